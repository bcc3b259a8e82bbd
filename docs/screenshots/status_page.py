"""Screenshots of the status page (phone and desktop) for the README, from a board like one in
service: `.venv/bin/python docs/screenshots/status_page.py` (Debian's chromium)."""

from datetime import UTC, datetime, timedelta

from playwright.sync_api import sync_playwright

from services.publisher.component_board import Span, component_board
from services.publisher.components import Component, ComponentsFile, ComponentState
from services.publisher.pages import render_status_html
from services.publisher.schemas import IncidentOut, StatusBoard, StatusUpdateOut
from services.publisher.schemas_components import PlannedWorksOut
from shared.contract.events import IncidentStatus, Severity

now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
comps = ComponentsFile(
    components=[
        Component(id="north-line", name="North line", group="Lines", regions=["north"]),
        Component(id="south-line", name="South line", group="Lines", regions=["south"]),
        Component(
            id="central-station",
            name="Central station",
            group="Stations",
            services=["central-station"],
        ),
        Component(id="app", name="Tickets app", group="Apps", services=["app"]),
    ]
)
spans = [
    Span(ComponentState.PARTIAL_OUTAGE, [], ["north"], now - timedelta(minutes=40), None),
    Span(
        ComponentState.MAJOR_OUTAGE,
        ["app"],
        [],
        now - timedelta(days=12, hours=3),
        now - timedelta(days=12),
    ),
    Span(
        ComponentState.DEGRADED_PERFORMANCE,
        [],
        ["south"],
        now - timedelta(days=33),
        now - timedelta(days=32, hours=20),
    ),
    Span(
        ComponentState.UNDER_MAINTENANCE,
        ["central-station"],
        [],
        now - timedelta(days=5, hours=6),
        now - timedelta(days=5),
    ),
]
board = StatusBoard(
    title="Rail status",
    url="https://status.example.test/status",
    operational=False,
    generated_at=now,
    subscribe_by_email=True,
    incidents=[
        IncidentOut(
            incident_id="inc_1",
            title="Signal failure north of Central",
            severity=Severity.SEV2,
            status=IncidentStatus.IDENTIFIED,
            url="https://status.example.test/status#inc_1",
            first_published_at=now - timedelta(minutes=40),
            updated_at=now - timedelta(minutes=5),
            updates=[
                StatusUpdateOut(
                    message_id="m2",
                    status=IncidentStatus.IDENTIFIED,
                    text="The fault is found; trains run every 20 minutes north of Central. "
                    "Next update by 10:00.",
                    published_at=now - timedelta(minutes=5),
                ),
                StatusUpdateOut(
                    message_id="m1",
                    status=IncidentStatus.INVESTIGATING,
                    text="Trains north of Central are delayed. We are looking into it.",
                    published_at=now - timedelta(minutes=40),
                ),
            ],
        )
    ],
    components=component_board(comps, spans, now=now),
    maintenance=[
        PlannedWorksOut(
            id="mnt_1",
            title="Track renewal, South line",
            text="Buses replace trains between Oak and Elm.",
            state="scheduled",
            starts_at=now + timedelta(days=4),
            ends_at=now + timedelta(days=5),
            services=[],
            regions=["south"],
            changed_at=now,
        )
    ],
)
html = render_status_html(board)
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
    for name, size in (
        ("desktop", {"width": 1280, "height": 1100}),
        ("phone", {"width": 390, "height": 1400}),
    ):
        page = b.new_page(viewport=size, device_scale_factor=1)
        page.set_content(html)
        page.screenshot(path=f"docs/screenshots/status-{name}.png", full_page=True)
    b.close()
