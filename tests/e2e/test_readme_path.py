"""README's "The path by hand", verbatim, on `make run` as the README starts it: the block is
run with `bash -euo pipefail` from a folder whose `data/` is the run's data dir, so each
step that answers an HTTP error (its curls use `--fail-with-body`) fails the test; then the
outcome is checked on the router, the status page and a sandbox timeline, and Ctrl-C leaves
no process behind."""

import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.devtools.broker import port_open
from tests.e2e import make_target

pytestmark = pytest.mark.e2e

README = make_target.ROOT / "README.md"
PORTS = (8000, 8001, 8002, 9101, 9102, 9103)  # the README's: services, then the sandbox
EDITED = "Trains are held at Central. Next update by 14:30."


def path_by_hand() -> str:
    """The first ```sh block under the heading "## The path by hand"."""
    text = README.read_text()
    section = text[text.index("\n## The path by hand\n") :]
    found = re.search(r"^```sh\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert found is not None, "no sh block under 'The path by hand'"
    return found.group(1)


def test_every_curl_that_must_not_fail_says_so() -> None:
    """A reader (and the run below) is stopped by a refused request: every curl line but the
    one that shows the four-eyes rule's 403 fails on an HTTP error."""
    curls = [line for line in path_by_hand().splitlines() if "curl " in line]
    lenient = [line for line in curls if "--fail-with-body" not in line]
    assert len(curls) >= 9
    four_eyes = "curl -s -o /dev/null -w '%{http_code}\\n' -X POST "
    assert lenient == [four_eyes + "localhost:8001/v1/drafts/$DRAFT/approve \\"]


def test_the_path_by_hand_runs_verbatim_on_make_run(tmp_path: Path) -> None:
    taken = [port for port in PORTS if port_open("127.0.0.1", port)]
    assert taken == [], f"the README's ports must be free for this test: {taken} are taken"
    log_path = tmp_path / "run.log"
    process = make_target.start("run", {"RUN_ARGS": f"--data-dir {tmp_path / 'data'}"}, log_path)
    try:
        make_target.wait_for(log_path, "Press Ctrl-C to stop everything.", process, within=120)
        assert "http://127.0.0.1:9101/   -> channel north-mastodon" in log_path.read_text()
        script = tmp_path / "path-by-hand.sh"
        script.write_text(path_by_hand())
        done = subprocess.run(
            ["bash", "-euo", "pipefail", str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"the block failed:\n{done.stdout}\n{done.stderr}"
        said = done.stdout.splitlines()
        incident = said[0].removeprefix("incident ")
        assert re.fullmatch(r"inc_[0-9a-f]+", incident), said
        assert said[-1] == f"incident {incident} resolved"
        assert "north-mastodon paused, 60 promotions held" in said
        assert "south-bluesky paused, 60 promotions held" in said
        assert "403" in said  # the editor's own approval, refused
        published = {line.split()[0] for line in said if line.split()[1:2] == ["published"]}
        assert published == {"status", "north-mastodon", "south-bluesky", "trains-mastodon"}

        tokens: dict[str, str] = json.loads((tmp_path / "data" / "dev-tokens.json").read_text())
        dm = {"Authorization": f"Bearer {tokens['duty_manager']}"}
        with httpx.Client(timeout=10) as http:
            detail: dict[str, Any] = http.get(
                f"http://127.0.0.1:8001/v1/incidents/{incident}", headers=dm
            ).json()
            held = http.get(
                "http://127.0.0.1:8001/v1/marketing/posts", params={"state": "held"}, headers=dm
            ).json()
            status = http.get("http://127.0.0.1:8002/status.json").text
            north = http.get("http://127.0.0.1:9101/timeline.json").json()
        assert detail["status"] == "resolved"
        assert {p["channel_id"] for p in detail["pauses"]} == {"north-mastodon", "south-bluesky"}
        assert {d["channel_id"]: d["state"] for d in detail["deliveries"]} == {
            "status": "published",
            "north-mastodon": "published",
            "south-bluesky": "published",
            "trains-mastodon": "published",
        }
        assert {p["channel_id"] for p in held} == {"north-mastodon", "south-bluesky"}
        assert EDITED in status
        assert [p["text"] for p in north if "Trains stuck at Central" in p["text"]] != []
        drafts = [d for d in detail["drafts"] if d["state"] == "approved"]
        assert [d["decided_by"] for d in drafts] == ["sam"]  # the second duty manager, by name

        below = make_target.descendants(process.pid)
        assert len(below) >= 5, below  # planb, and tansu + ingest + router + publisher
        assert make_target.ctrl_c(process) == -signal.SIGINT
        assert [pid for pid in below if make_target.alive(pid)] == []
        assert "embedded broker stopped" in log_path.read_text()
    except AssertionError:
        print(log_path.read_text())  # pytest shows it with the failure
        raise
    finally:
        make_target.kill(process)
