"""The bench's chart is well-formed SVG with one row per latency figure of the results."""

import xml.etree.ElementTree as ElementTree
from typing import Any

from bench.chart import svg
from bench.report import rows
from bench.stats import summarise

SVG = "{http://www.w3.org/2000/svg}"


def _latency(*seconds: float) -> dict[str, Any]:
    return summarise(list(seconds)).as_dict()


def _results() -> dict[str, Any]:
    hop = _latency(0.003, 0.004, 0.02)
    return {
        "when": "2026-12-01T12:00:00+00:00",
        "broker": "embedded tansu",
        "process_model": "processes: each service in its own process",
        "machine": {"cpus": 2, "load_average_before": {"1m": 0.5}},
        "scenarios": {
            "floor": {
                "produce_ack": _latency(0.0005, 0.001),
                "one_hop": hop,
                "two_hops": _latency(0.006, 0.009, 0.03),
                "fetch_waits": {"10": {"one_hop": hop, "idle": {"consumer_core_pct": 3.0}}},
            },
            "pause-10": {"every_channel": _latency(0.02, 0.03, 0.2)},
            "draft": {"visible": _latency(0.04, 0.05, 1.5)},
            "storm": {
                "sent": 2000,
                "duration_s": 12.0,
                "groups": 200,
                "accepted": 2000,
                "rejected": 0,
                "incidents_created": 200,
                "incidents_on_topic": 200,
                "accept": _latency(0.01, 0.02),
                "time_to_pause": _latency(0.1, 0.4),
                "region_first_pause_ms": {"north": 120.0},
            },
        },
    }


def test_the_chart_has_one_row_per_latency_figure_with_its_label() -> None:
    results = _results()
    tree = ElementTree.fromstring(svg(results))
    drawn = [g.get("data-figure") for g in tree.iter(f"{SVG}g") if g.get("class") == "row"]
    expected = [latency.label for latency in rows(results).latencies]
    assert drawn == expected
    assert "floor: two hops" in drawn
    assert "time to pause, 10 channels" in drawn
    assert tree.tag == f"{SVG}svg"


def test_a_label_with_markup_characters_stays_well_formed() -> None:
    results = _results()
    results["scenarios"]["floor"]["fetch_waits"] = {
        '<&"10': results["scenarios"]["floor"]["fetch_waits"]["10"]
    }
    tree = ElementTree.fromstring(svg(results))
    assert any('<&"10' in (g.get("data-figure") or "") for g in tree.iter(f"{SVG}g"))
