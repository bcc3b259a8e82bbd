"""deploy/k8s: probes, resources, non-root, Secret references and the generated ConfigMaps,
checked by reading the manifests (no cluster here)."""

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SERVICES = {"ingest": 8000, "router": 8001, "publisher": 8002}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    found = {}
    for resource in kustomization["resources"]:
        for doc in _documents(K8S / resource):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def _container(objects: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, Any]:
    (container,) = objects[("Deployment", name)]["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize(("name", "port"), SERVICES.items())
def test_probes_readiness_on_readyz_liveness_on_healthz(
    objects: dict[tuple[str, str], dict[str, Any]], name: str, port: int
) -> None:
    container = _container(objects, name)
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert f"services.{name}.main:create_app" in container["command"]
    service = objects[("Service", name)]
    assert service["spec"]["ports"][0]["port"] == port


@pytest.mark.parametrize("name", SERVICES)
def test_resources_requests_and_limits(
    objects: dict[tuple[str, str], dict[str, Any]], name: str
) -> None:
    resources = _container(objects, name)["resources"]
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory"}


@pytest.mark.parametrize("name", SERVICES)
def test_runs_as_non_root_on_a_read_only_filesystem(
    objects: dict[tuple[str, str], dict[str, Any]], name: str
) -> None:
    pod = objects[("Deployment", name)]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    container = _container(objects, name)["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("name", SERVICES)
def test_secrets_come_from_secret_refs_never_literals(
    objects: dict[tuple[str, str], dict[str, Any]], name: str
) -> None:
    container = _container(objects, name)
    env = {e["name"]: e for e in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "planb-database",
        "key": f"{name}-url",
    }
    pod = objects[("Deployment", name)]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tokens"]["secret"]["secretName"] == "planb-tokens"
    assert env["TOKENS_FILE"]["value"].startswith("/var/run/planb/tokens/")
    for entry in container["env"]:
        if any(word in entry["name"] for word in ("TOKEN", "SECRET", "PASSWORD", "URL")):
            assert "value" not in entry or entry["name"] == "TOKENS_FILE", entry["name"]
    config = objects[("ConfigMap", "planb-env")]["data"]
    assert "DATABASE_URL" not in config
    assert not any("TOKEN" in key and key != "TOKENS_FILE" for key in config)


def test_ingest_and_publisher_secret_refs(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    ingest = {e["name"]: e for e in _container(objects, "ingest")["env"]}
    assert ingest["ALERTMANAGER_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "planb-ingest"
    sources = _container(objects, "publisher")["envFrom"]
    assert {"secretRef": {"name": "planb-channel-credentials", "optional": True}} in sources


def test_the_secrets_referenced_are_described_in_the_example(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    example = {d["metadata"]["name"]: d for d in _documents(K8S / "secrets.example.yaml")}
    for name in SERVICES:
        container = _container(objects, name)
        for entry in container["env"]:
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in example[ref["name"]]["stringData"], ref
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                assert source["secretRef"]["name"] in example


def test_config_files_are_mounted_from_the_configmap(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    config = objects[("ConfigMap", "planb-config")]["data"]
    assert set(config) == {"channels.yaml", "policy.yaml", "alertmanager.yaml"}
    env = objects[("ConfigMap", "planb-env")]["data"]
    for variable, file in (
        ("CHANNELS_FILE", "channels.yaml"),
        ("POLICY_FILE", "policy.yaml"),
        ("ALERTMANAGER_MAPPING_FILE", "alertmanager.yaml"),
    ):
        assert env[variable] == f"/etc/planb/{file}"
    for name in SERVICES:
        mounts = {m["name"]: m for m in _container(objects, name)["volumeMounts"]}
        assert mounts["config"]["mountPath"] == "/etc/planb"


def test_topics_job_creates_replicated_topics(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    job = objects[("Job", "planb-topics")]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("apache/kafka:")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["REPLICATION_FACTOR"]) == 3
    assert int(env["MIN_INSYNC_REPLICAS"]) == 2
    assert env["PARTITIONS"] == objects[("ConfigMap", "planb-env")]["data"]["TOPIC_PARTITIONS"]
    assert "resources" in container


def test_replicas_do_not_exceed_partitions(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """A consumer-group member beyond the partition count gets nothing to do."""
    partitions = int(objects[("ConfigMap", "planb-env")]["data"]["TOPIC_PARTITIONS"])
    for name in ("router", "publisher"):
        assert objects[("Deployment", name)]["spec"]["replicas"] <= partitions


def test_generated_configmaps_are_fresh() -> None:
    spec = importlib.util.spec_from_file_location("render", ROOT / "deploy/render_configmaps.py")
    assert spec is not None
    assert spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    assert (K8S / "configmap.yaml").read_text() == render.render(), (
        "deploy/k8s/configmap.yaml is stale: run `make docs`"
    )


def test_sizing_note_exists() -> None:
    note = (ROOT / "deploy" / "README.md").read_text()
    assert "partition" in note
    assert "replica" in note
