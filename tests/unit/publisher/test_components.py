"""Which components an incident's tags touch, and the components file's checks."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.publisher.component_board import Span, component_board
from services.publisher.components import (
    Component,
    ComponentsFile,
    ComponentState,
    affects,
    load_components,
)

NORTH = Component(id="north", name="North line", regions=["north"], services=["trains"])
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("services", "regions", "expected"),
    [
        ([], ["north"], True),
        (["trains"], [], True),
        ([], ["south"], False),
        ([], [], True),  # unknown scope: shown everywhere
        (["app"], ["all"], True),
    ],
)
def test_an_incident_affects_components_sharing_a_tag(
    services: list[str], regions: list[str], expected: bool
) -> None:
    assert affects(NORTH, services=services, regions=regions) is expected


def test_the_worst_state_wins_now_and_per_day() -> None:
    components = ComponentsFile(components=[NORTH])
    spans = [
        Span(ComponentState.DEGRADED_PERFORMANCE, [], ["north"], NOW - timedelta(hours=1), None),
        Span(
            ComponentState.MAJOR_OUTAGE,
            [],
            ["north"],
            NOW - timedelta(days=2),
            NOW - timedelta(hours=30),
        ),
        Span(ComponentState.MAJOR_OUTAGE, [], ["south"], NOW - timedelta(hours=1), None),
    ]
    (north,) = component_board(components, spans, now=NOW)
    assert north.state is ComponentState.DEGRADED_PERFORMANCE
    assert [d.state for d in north.history[-3:]] == [
        ComponentState.MAJOR_OUTAGE,
        ComponentState.MAJOR_OUTAGE,  # it ended at 06:00 the day after it started
        ComponentState.DEGRADED_PERFORMANCE,
    ]
    assert north.history[-1].day == NOW.date()


def test_a_component_named_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "components.yaml"
    path.write_text("components:\n  - {id: a, name: A}\n  - {id: a, name: B}\n")
    with pytest.raises(ValueError, match="appear twice: a"):
        load_components(path)


def test_without_the_file_there_are_no_components(tmp_path: Path) -> None:
    assert load_components(tmp_path / "absent.yaml").components == []
