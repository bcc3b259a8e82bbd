"""What a consumed event's handling is done inside: its ids bound for the log lines."""

from collections.abc import Iterator
from contextlib import contextmanager

from shared.contract.events import CloudEvent
from shared.runtime.logs import ids_of, log_ids


@contextmanager
def handling(event: CloudEvent) -> Iterator[None]:
    """Around one event's handler: every line logged carries the event's id and the ids its
    payload names (incident, message, draft, channel)."""
    with log_ids(event_id=event.id, **ids_of(event.data)):
        yield
