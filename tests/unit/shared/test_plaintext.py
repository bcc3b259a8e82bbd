"""One filter for every published text: what it removes, what it keeps, and that each text
field that reaches a reader passes it at validation (events, request bodies)."""

import pytest
from pydantic import BaseModel, ValidationError

from services.ingest.schemas import IncidentCreate, IncidentUpdateIn
from services.router.schemas import DraftEdit
from services.router.schemas_marketing import PostIn
from shared.contract.events import IncidentRaised, IncidentRef, IncidentUpdated, PublishRequested
from shared.contract.plaintext import published_text

DIRTY = "a\x00\x07\x0b\x0c\x1b[31;1mb\x1b[0m\x7f\x85\ud800\ufdd0\ufffe\uffff\U0010ffffc"


def test_it_removes_what_a_reader_cannot_see_and_a_terminal_acts_on() -> None:
    assert published_text(DIRTY) == "abc"
    assert published_text("one\r\ntwo\rthree") == "one\ntwo\nthree"


def test_it_keeps_what_writing_needs() -> None:
    rtl = "\u200f\u05e9\u05dc\u05d5\u05dd"
    kept = f"Tab\there\nnew line, é, ZWJ family 👨\u200d👩\u200d👧, RTL {rtl}, 🇫🇷"
    assert published_text(kept) == kept


@pytest.mark.parametrize(
    ("model", "field", "rest"),
    [
        (IncidentCreate, "title", {"severity": "sev1"}),
        (IncidentCreate, "summary", {"title": "t", "severity": "sev1"}),
        (IncidentCreate, "customer_impact", {"title": "t", "severity": "sev1"}),
        (IncidentUpdateIn, "message", {"status": "identified"}),
        (DraftEdit, "text", {"channel_id": "status"}),
        (PostIn, "text", {"channel_id": "masto", "publish_at": "2030-01-01T00:00:00Z"}),
        (
            IncidentUpdated,
            "customer_impact",
            {
                "incident_id": "i",
                "status": "identified",
                "updated_by": "op",
                "updated_at": "2030-01-01T00:00:00Z",
            },
        ),
        (
            IncidentRaised,
            "summary",
            {
                "incident_id": "i",
                "title": "t",
                "severity": "sev1",
                "started_at": "2030-01-01T00:00:00Z",
                "raised_by": "op",
                "raised_at": "2030-01-01T00:00:00Z",
            },
        ),
        (IncidentRef, "title", {"incident_id": "i", "severity": "sev1", "status": "identified"}),
        (
            PublishRequested,
            "text",
            {
                "message_id": "m",
                "channel_id": "c",
                "kind": "marketing",
                "requested_at": "2030-01-01T00:00:00Z",
            },
        ),
    ],
)
def test_every_published_text_is_filtered_at_validation(
    model: type[BaseModel], field: str, rest: dict[str, object]
) -> None:
    assert getattr(model.model_validate({**rest, field: DIRTY}), field) == "abc"


def test_a_text_of_nothing_but_control_characters_is_empty_and_refused_where_required() -> None:
    with pytest.raises(ValidationError):
        DraftEdit(channel_id="status", text="\x0c\x1b[31m\ufffe")
