"""Generated documents match their sources: regenerate with `make docs` when these fail."""

from pathlib import Path

import pytest
import yaml

from shared.contract.events import EVENT_TYPES
from shared.devtools import asyncapi, configdoc

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "stale: run `make docs` and commit the result"


def test_configuration_table_matches_the_settings_classes() -> None:
    written = (ROOT / "docs" / "configuration.md").read_text()
    assert written == configdoc.render(), f"docs/configuration.md is {REGENERATE}"


def test_every_setting_says_what_it_is_for() -> None:
    unexplained = [variable for variable, _d, _r, meaning in configdoc.rows() if not meaning]
    assert unexplained == [], "give these settings a Field(description=...): " + ", ".join(
        unexplained
    )


def test_asyncapi_document_matches_the_event_models() -> None:
    written = (ROOT / "docs" / "asyncapi.yaml").read_text()
    assert written == asyncapi.render(), f"docs/asyncapi.yaml is {REGENERATE}"


def test_asyncapi_has_every_event_type_on_its_design_topic() -> None:
    doc = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())
    assert doc["asyncapi"] == "3.0.0"
    names = {m["name"] for m in doc["components"]["messages"].values()} - {"dead-letter"}
    assert names == set(EVENT_TYPES)
    addresses = {c["address"] for c in doc["channels"].values()}
    main = {"planb.incidents", "planb.outbound", "planb.deliveries", "planb.audit"}
    assert addresses == main | {f"{t}.dlq" for t in main}
    keys = {
        name: doc["components"]["messages"][name]["bindings"]["kafka"]["key"]["description"]
        for name in ("IncidentRaised", "PublishRequested", "DeliveryFailed", "AuditRecorded")
    }
    assert keys["IncidentRaised"] == "incident id"
    assert keys["PublishRequested"].startswith("channel id")
    assert keys["DeliveryFailed"] == "message id"
    assert keys["AuditRecorded"] == "entity id"


@pytest.mark.parametrize(
    "attribute", ["id", "source", "type", "time", "subject", "datacontenttype", "specversion"]
)
def test_asyncapi_documents_the_cloudevents_attribute(attribute: str) -> None:
    doc = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())
    envelope = doc["components"]["schemas"]["CloudEventAttributes"]["properties"]
    assert envelope[attribute]["description"]


def test_every_local_ref_in_the_asyncapi_document_resolves() -> None:
    doc = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        target: object = doc
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict), f"dangling $ref {ref}"
            assert part in target, f"dangling $ref {ref}"
            target = target[part]
