"""deploy/observability/: the alert rules are valid Prometheus rules and fire on sample series
as alerts.test.yaml expects (Debian's `promtool`); the dashboard is Grafana JSON whose
panels each query Prometheus. That every metric they name is exported by a running service
is tests/e2e/test_observability.py's (it scrapes the processes)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[2] / "deploy" / "observability"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool absent: `apt-get install prometheus` (.ci/run does)"
)


def promtool(*args: str) -> str:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, *args], cwd=FOLDER, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@needs_promtool
def test_the_rules_are_valid() -> None:
    assert "SUCCESS: 7 rules found" in promtool("check", "rules", "alerts.yaml")


@needs_promtool
def test_each_alert_fires_on_its_sample_series_and_not_before() -> None:
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yaml")


def test_every_panel_queries_prometheus() -> None:
    dashboard = json.loads((FOLDER / "dashboard.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 15
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["type"] == "prometheus", panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["expr"] for t in panel["targets"]), panel["title"]
