"""`make demo DEMO_ARGS="--fast --auto-approve ..."` end to end, started as the README says:
what the narration claims is checked against the sandbox timelines and the router, then
Ctrl-C leaves nothing."""

import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.devtools.broker import free_port
from tests.e2e import make_target

pytestmark = pytest.mark.e2e

DONE = "The story is complete."


def _descendants(timeline: list[dict[str, Any]], root: str) -> list[dict[str, Any]]:
    thread, found = {root}, []
    for post in sorted(timeline, key=lambda p: p["depth"]):
        if post["reply_to"] in thread:
            thread.add(post["id"])
            found.append(post)
    return found


def test_demo_tells_a_true_story_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(3)]
    data_dir = tmp_path / "demo"
    args = ["--fast", "--auto-approve", "--data-dir", str(data_dir), "--sandbox-port", "0"]
    for flag, port in zip(
        ("--ingest-port", "--router-port", "--publisher-port"), ports, strict=True
    ):
        args += [flag, str(port)]
    log_path = tmp_path / "demo.log"
    process = make_target.start("demo", {"DEMO_ARGS": " ".join(args)}, log_path)
    try:
        make_target.wait_for(log_path, DONE, process, within=120)
        narration = log_path.read_text()
        sandbox = json.loads((data_dir / "sandbox.json").read_text())
        tokens = json.loads((data_dir / "dev-tokens.json").read_text())
        router = f"http://127.0.0.1:{ports[1]}"
        dm = {"Authorization": f"Bearer {tokens['duty_manager']}"}
        with httpx.Client(timeout=10) as http:
            timelines = {
                region: http.get(f"{url}/timeline.json").json() for region, url in sandbox.items()
            }
            held = http.get(f"{router}/v1/marketing/posts", params={"state": "held"}, headers=dm)
            status = http.get(f"http://127.0.0.1:{ports[2]}/status.json").text
            page = http.get(f"{sandbox['north']}/").text

        def in_order(region: str) -> list[dict[str, Any]]:
            return sorted(timelines[region], key=lambda p: p["id"])  # ids grow with time

        # promotions stopped in the north at the pause; the south kept posting after it
        north = in_order("north")
        north_promos = [i for i, p in enumerate(north) if "offer #" in p["text"]]
        north_first_update = next(i for i, p in enumerate(north) if "offer #" not in p["text"])
        assert north_promos, "promotions flowed in the north before the incident"
        assert max(north_promos) < north_first_update
        south_texts = [p["text"] for p in timelines["south"]]
        assert sum("offer #" in text for text in south_texts) >= 3
        held_channels = {post["channel_id"] for post in held.json()}
        assert held_channels == {"north-mastodon"}
        assert all("offer #" not in p["text"] for p in timelines["trains"])

        # the update, then the follow-up and the resolution threaded under it, on every timeline
        for region, timeline in timelines.items():
            roots = [p for p in timeline if p["reply_to"] is None and "offer #" not in p["text"]]
            assert len(roots) == 1, (region, roots)
            assert "Trains held outside Northgate" in roots[0]["text"]
            thread = _descendants(timeline, roots[0]["id"])
            assert len(thread) == 2, (region, thread)
            assert any("Resolved" in p["text"] for p in thread)
        assert "Trains held outside Northgate" in status
        assert "replies sit under the post" in page

        # the narration said so, with the curls to do it by hand
        assert "curl -s -X POST http://127.0.0.1:" in narration
        assert f"{ports[0]}/v1/incidents" in narration
        assert "promotions since the pause: north 0, south " in narration
        assert "/v1/marketing/resume" in narration
        assert tokens["duty_manager"] in narration

        below = make_target.descendants(process.pid)
        # planb (perhaps under a sh), and under it tansu + ingest + router + publisher
        assert len(below) >= 5, below
        assert make_target.ctrl_c(process) == -signal.SIGINT  # make re-raises it once planb ends
        assert [pid for pid in below if make_target.alive(pid)] == []
        tail = log_path.read_text()[len(narration) :]
        assert "embedded broker stopped" in tail
        assert "ERROR" not in tail
    except AssertionError:
        print(log_path.read_text())  # pytest shows it with the failure
        raise
    finally:
        make_target.kill(process)
