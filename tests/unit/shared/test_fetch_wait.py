"""Each consumer's fetch wait: `KAFKA_FETCH_MAX_WAIT_MS` unless its service passes its own."""

from pathlib import Path

from sqlalchemy import MetaData

from shared.runtime.service import Runtime
from shared.runtime.settings import CommonSettings


async def test_consumers_take_the_setting_unless_given_their_own(tmp_path: Path) -> None:
    settings = CommonSettings(
        kafka_bootstrap_servers="127.0.0.1:9",  # nothing listens: the loops only retry
        kafka_fetch_max_wait_ms=7,
        data_dir=tmp_path,
    )
    runtime = Runtime(settings, metadata=MetaData())
    try:
        latency = runtime.add_consumer("g-fast", ["t"], {})
        background = runtime.add_consumer("g-slow", ["t"], {}, fetch_max_wait_ms=900)
        assert (latency.config.fetch_max_wait_ms, background.config.fetch_max_wait_ms) == (7, 900)
    finally:
        await runtime.stop(consumer_grace_seconds=0.1)


def test_the_production_default_is_a_long_wait() -> None:
    """Apache Kafka answers a waiting fetch when a record arrives: a long wait costs no
    latency there, and a short one would cost CPU on every idle consumer."""
    assert CommonSettings.model_fields["kafka_fetch_max_wait_ms"].default == 500
