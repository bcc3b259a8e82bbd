"""What the broker-outage fault tests share: a broker of the test's own on a fixed port (the
session's broker is shared, and this one gets stopped), and a status page as the only channel."""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from shared.devtools.broker import EmbeddedBroker, free_port
from tests.databases import scratch_database
from tests.processes import Service, ServiceProcess, service_environment

STATUS_PAGE_ONLY = """
channels:
  - id: status
    type: statuspage
    name: Public status page
    marketing: false
"""


def fresh_broker(port: int, folder: Path) -> EmbeddedBroker:
    """A fresh (empty) broker on `port`, started, logging to `folder`/tansu.log."""
    return EmbeddedBroker(port, log_file=folder / "tansu.log").start()


@contextmanager
def services_on_own_broker(
    folder: Path,
    topic_prefix: str,
    services: tuple[Service, ...],
    *,
    partitions: int = 2,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[dict[Service, ServiceProcess], int]]:
    """`services` as processes (not started) on a free broker port, each with a scratch
    database; yields them and the port, and stops them on the way out."""
    channels = folder / "channels.yaml"
    channels.write_text(STATUS_PAGE_ONLY)
    port = free_port()
    with ExitStack() as stack:
        environment = service_environment(
            folder,
            bootstrap_servers=f"127.0.0.1:{port}",
            topic_prefix=topic_prefix,
            channels_file=channels,
            partitions=partitions,
        ) | (env or {})
        processes: dict[Service, ServiceProcess] = {}
        for name in services:
            database = stack.enter_context(scratch_database(folder, name))
            processes[name] = ServiceProcess(
                name, folder, env={**environment, "DATABASE_URL": database}
            )
            stack.callback(processes[name].stop)
        yield processes, port
