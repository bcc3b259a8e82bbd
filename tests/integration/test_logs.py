"""Log lines as a service process writes them: `LOG_FORMAT=json` gives one JSON object per
line, with a dated, zoned timestamp and the ids of what the line concerns as fields; the text
format has the same timestamp and the ids at the end."""

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared.contract.events import ChannelPaused, CloudEvent
from shared.contract.topics import Topics
from shared.runtime.kafka import EventProducer
from tests.processes import ServiceProcess, service_environment
from tests.support import eventually

CHANNELS = """
channels:
  - id: promo
    type: statuspage
    name: Announcements
    marketing: true
"""


def pause(incident_id: str) -> CloudEvent:
    data = ChannelPaused(
        channel_id="promo",
        incident_id=incident_id,
        reason="sev1 incident",
        paused_at=datetime.fromisoformat("2026-12-01T09:00:00+00:00"),
    )
    return CloudEvent.wrap(data, source="/tests/logs", subject="promo")


async def publisher_logging(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, log_format: str
) -> str:
    """The publisher's log once it has applied a pause for incident `inc_logs`."""
    channels = tmp_path / "channels.yaml"
    channels.write_text(CHANNELS)
    env = service_environment(
        tmp_path,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        channels_file=channels,
    ) | {"LOG_FORMAT": log_format, "LOG_LEVEL": "INFO"}
    event = pause("inc_logs")
    with ServiceProcess("publisher", tmp_path, env=env) as publisher:
        publisher.start()
        producer = EventProducer(bootstrap_servers, client_id="test-logs")
        await producer.start()
        try:
            await producer.publish(Topics(topic_prefix).outbound, "promo", event)
        finally:
            await producer.stop()

        async def logged() -> str | None:
            text = publisher.log()
            return text if "paused" in text and event.id in text else None

        return await eventually(logged, what="the publisher's line about the pause")


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_a_service_logs_dated_lines_naming_what_they_concern(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, log_format: str
) -> None:
    text = await publisher_logging(tmp_path, bootstrap_servers, topic_prefix, log_format)
    lines = [line for line in text.splitlines() if line and not line.startswith("--- start")]
    if log_format == "json":
        records: list[dict[str, Any]] = [json.loads(line) for line in lines]  # every line
        for record in records:
            assert {"timestamp", "level", "service", "logger", "message"} <= record.keys()
            assert record["service"] == "publisher"
            assert datetime.fromisoformat(record["timestamp"]).tzinfo is not None
        about = next(r for r in records if "paused" in r["message"])
        assert about["level"] == "INFO"
        assert about["logger"] == "services.publisher.handlers"
        assert about["incident_id"] == "inc_logs"
        assert about["channel_id"] == "promo"
        assert about["event_id"]
    else:
        about_line = next(line for line in lines if " paused " in line)
        stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"
        assert re.match(rf"{stamp} INFO \[publisher\] services\.publisher\.handlers: ", about_line)
        ids = r" \[incident_id=inc_logs channel_id=promo event_id=[0-9a-f-]+\]$"
        assert re.search(ids, about_line)
