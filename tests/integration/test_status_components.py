"""The status page's components change state as an incident opens and resolves: the real
publisher app, the real broker (the incident raised on `planb.incidents`, its approved updates
on `planb.outbound`), a real database."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.contract.events import Affected, IncidentRaised, Severity
from tests.integration.publisher_app import incident_ref, running_publisher
from tests.support import eventually

COMPONENTS = """
components:
  - {id: north-line, name: North line, group: Lines, regions: [north]}
  - {id: south-line, name: South line, group: Lines, regions: [south]}
  - {id: app, name: Tickets app, services: [app]}
"""


def states(board: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["state"] for c in board["components"]}


async def test_components_follow_an_incident_from_open_to_resolved(
    tmp_path: Path, bootstrap_servers: str, topic_prefix: str, database_url: str
) -> None:
    async with running_publisher(
        tmp_path,
        bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        database_url=database_url,
        files={"components.yaml": COMPONENTS},
    ) as publisher:
        board = await publisher.board()
        assert set(states(board).values()) == {"operational"}
        assert len(board["components"][0]["history"]) == 90

        now = datetime.now(UTC)
        raised = IncidentRaised(
            incident_id="inc_north",
            title="Signal failure",
            severity=Severity.SEV2,
            affected=Affected(regions=["north"], services=["app"]),
            started_at=now,
            raised_by="ops",
            raised_at=now,
        )
        await publisher.send(publisher.topics.incidents, "inc_north", raised)
        ref = incident_ref("inc_north", severity="sev2", status="investigating")
        await publisher.publish_update(ref, message_id="msg-1")

        async def degraded() -> dict[str, str] | None:
            found = states(await publisher.board())
            return found if found["north-line"] != "operational" else None

        opened = await eventually(degraded, what="the north line degraded")
        assert opened == {
            "north-line": "partial_outage",
            "south-line": "operational",
            "app": "partial_outage",
        }
        html = (await publisher.client.get("/status")).text
        assert 'id="component-north-line" data-state="partial_outage"' in html
        assert "Partial outage" in html

        resolved = incident_ref("inc_north", severity="sev2", status="resolved")
        await publisher.publish_update(resolved, message_id="msg-2", text="Trains run again.")

        async def operational() -> dict[str, Any] | None:
            board = await publisher.board()
            return board if set(states(board).values()) == {"operational"} else None

        board = await eventually(operational, what="every component operational again")
        north = next(c for c in board["components"] if c["id"] == "north-line")
        assert north["history"][-1]["state"] == "partial_outage"  # today's worst
        assert {day["state"] for day in north["history"][:-1]} == {"operational"}
