"""`planb demo`: the whole system on embedded defaults plus a sandbox of two social platforms,
and a narrated incident from first promotion to the resume decision.

What runs: the embedded broker and the three services exactly as `planb run` starts them
(child processes in their own session that die with us), on SQLite in a demo data folder
that is reset at each start; and, in this process, loopback servers that speak Mastodon's
and Bluesky's APIs (the peers of `shared.devtools.sandbox`, each with a read-only timeline
page at `/`). The story itself is in `shared/devtools/demo/story.py`.

The peers are part of the installed package (the tests use the same ones), so the demo
shows exactly what the tests check and runs from `.venv/bin/planb` outside the source tree.
"""

import argparse
import asyncio
import json
import os
import shutil
import sys
import textwrap
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from shared.contract.topics import Topics
from shared.devtools.broker import FETCH_MAX_WAIT_MS, EmbeddedBroker, busy_port, free_port
from shared.devtools.demo.timing import Timing
from shared.devtools.dev_accounts import ensure_dev_accounts
from shared.devtools.supervisor import (
    Supervisor,
    port_flags,
    service_ports,
    service_specs,
)
from shared.runtime.kafka import ensure_topics
from shared.runtime.private_files import private_folder

if TYPE_CHECKING:
    from shared.devtools.demo.story import Story

MARKER = ".planb-demo"  # only a folder carrying it is ever wiped


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The `demo` subcommand of `planb`."""
    demo = commands.add_parser(
        "demo",
        help="the system plus a Mastodon/Bluesky sandbox, and a narrated incident",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent("""\
            Start the embedded broker and the three services (as `planb run` does) with a
            sandbox of two social platforms on loopback: Mastodon for the north region and
            the trains department, Bluesky for the south. Marketing schedules promotions
            (every 20 s), then an incident is raised and the demo narrates what happens:
              1. promotions flow on north and south
              2. a sev3 incident in the north is raised through the ingest API
              3. promotions stop in the north only; the draft waits in the console
              4. once approved (by you, or --auto-approve), the update is on every
                 sandbox timeline and the status page
              5. a follow-up and the resolution thread under it
              6. the north's held promotions wait for a resume decision
            The system keeps running afterwards; Ctrl-C stops everything."""),
        epilog="The demo folder (--data-dir) is reset at each start. Sandbox timelines: "
        "http://127.0.0.1:9101/ (north), :9102/ (south), :9103/ (trains).",
    )
    demo.add_argument(
        "--fast", action="store_true", help="promotions every ~2 s and short waits (for tests)"
    )
    demo.add_argument(
        "--auto-approve",
        action="store_true",
        help="approve drafts through the API with the admin token instead of waiting for you",
    )
    demo.add_argument("--ingest-port", type=int, default=8000, help="default: %(default)s")
    demo.add_argument("--router-port", type=int, default=8001, help="default: %(default)s")
    demo.add_argument("--publisher-port", type=int, default=8002, help="default: %(default)s")
    demo.add_argument(
        "--broker-port", type=int, default=0, help="embedded broker port (default: a free one)"
    )
    demo.add_argument(
        "--sandbox-port",
        type=int,
        default=9101,
        help="first of three sandbox ports (north, south, trains); 0 picks free ones "
        "(default: %(default)s)",
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data/demo"),
        help="demo state folder, reset at each start (default: %(default)s)",
    )


def main(args: argparse.Namespace) -> int:
    """Run the demo until Ctrl-C (or until the story fails)."""
    from shared.devtools.demo.story import Story
    from shared.devtools.sandbox.accounts import Sandbox

    data_dir: Path = args.data_dir
    if not _reset(data_dir):
        return 1
    ports = port_flags(service_ports(args))
    busy = busy_port("planb demo", ports, "`make run`?")
    if busy is not None:
        print(busy + ' (with make: make demo DEMO_ARGS="...")', file=sys.stderr)
        return 1
    # The demo is self-contained: its own broker and SQLite, whatever this shell points at.
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "CHANNELS_FILE", "TOPIC_PREFIX"):
        os.environ.pop(name, None)
    timing = Timing.pick(args.fast)
    with ExitStack() as stack:
        try:
            sandbox = Sandbox.start(stack, args.sandbox_port)
        except OSError as error:
            print(
                f"planb demo: sandbox port taken ({error}); try --sandbox-port 0", file=sys.stderr
            )
            return 1
        sandbox.write_channels(data_dir / "channels.yaml", by="planb demo")
        (data_dir / "sandbox.json").write_text(json.dumps(sandbox.urls, indent=2) + "\n")
        broker = EmbeddedBroker(
            args.broker_port or free_port(),
            log_file=data_dir / "logs" / "broker.log",
            die_with_parent=True,
        ).start()
        stack.callback(lambda: print("[planb] embedded broker stopped", flush=True))
        stack.callback(broker.stop)
        print(f"[planb] embedded broker (tansu) on {broker.bootstrap_servers}", flush=True)
        topics = Topics("planb")
        asyncio.run(ensure_topics(broker.bootstrap_servers, topics.all(), 2))
        tokens = asyncio.run(ensure_dev_accounts(data_dir))  # personal: the story names people
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "TOPIC_PARTITIONS": "2",
            "KAFKA_FETCH_MAX_WAIT_MS": str(FETCH_MAX_WAIT_MS),  # tansu: a hop costs this
            "DATA_DIR": str(data_dir),
            "TOKENS_FILE": str(data_dir / "tokens.json"),
            "CHANNELS_FILE": str(data_dir / "channels.yaml"),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{args.publisher_port}",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),  # the story does the talking
            **sandbox.credentials(),
        }
        specs = service_specs(service_ports(args))
        story = Story(
            sandbox=sandbox,
            tokens=tokens,
            ingest=f"http://127.0.0.1:{args.ingest_port}",
            router=f"http://127.0.0.1:{args.router_port}",
            publisher=f"http://127.0.0.1:{args.publisher_port}",
            timing=timing,
            auto_approve=args.auto_approve,
            data_dir=data_dir,
        )
        code = asyncio.run(_run(Supervisor(specs, host="127.0.0.1", env=env), story))
    return code


async def _run(supervisor: Supervisor, story: "Story") -> int:
    """The services under the supervisor and the story beside them; Ctrl-C ends both."""
    ready = asyncio.Event()
    services = asyncio.create_task(supervisor.run(ready_timeout=60, on_ready=ready.set))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({services, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if services.done():
        waiting.cancel()
        return services.result()
    telling = asyncio.create_task(story.tell())
    await asyncio.wait({services, telling}, return_when=asyncio.FIRST_COMPLETED)
    if services.done():  # Ctrl-C (or a service died) while the story was going
        telling.cancel()
        await asyncio.gather(telling, return_exceptions=True)
        return services.result()
    if (failure := telling.exception()) is not None:
        print(f"\n[demo] the story stopped: {failure}", file=sys.stderr, flush=True)
        services.cancel()
        await asyncio.gather(services, return_exceptions=True)
        return 1
    return await services


def _reset(data_dir: Path) -> bool:
    """Start from an empty demo folder; refuse to wipe a folder the demo did not create."""
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            print(
                f"planb demo: {data_dir} is not empty and not a demo folder; "
                "pick another with --data-dir",
                file=sys.stderr,
            )
            return False
        shutil.rmtree(data_dir)
    os.umask(0o077)  # what it and the services it starts create is theirs alone
    private_folder(data_dir)
    (data_dir / MARKER).write_text("created by `planb demo`; reset at each start\n")
    return True
