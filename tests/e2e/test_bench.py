"""`python -m bench` in its default mode (the services as processes, as `planb run` starts
them) runs a short scenario end to end and writes its figures and chart: the bench itself
keeps working as the services change (its figures are not checked here: timing is the
bench's job, not a test's)."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tests.databases import server_url

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_a_quick_pause_scenario_runs_on_separate_processes(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench", "--quick", "--only", "pause-10", "--processes"]
    command += ["--no-floor", "--output", str(output)]
    if server_url():
        command += ["--database-url", str(server_url())]
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(output.read_text())
    pause = results["scenarios"]["pause-10"]
    assert pause["every_channel"]["n"] == 200
    assert results["process_model"].startswith("processes")
    assert set(pause["cpu_seconds"]) >= {"ingest", "router", "bench"}
    assert pause["cpu_seconds"]["router"] > 0
    chart = ElementTree.parse(output.with_suffix(".svg")).getroot()
    rows = [g for g in chart.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "row"]
    assert [g.get("data-figure") for g in rows] == ["time to pause, 10 channels"]
