"""What start-up built is frozen out of the collector's way; a slow collection is logged."""

import gc
from collections.abc import Iterator

import pytest

from shared.runtime import heap
from shared.runtime.heap import SlowCollections, freeze_startup_heap, thaw_heap


@pytest.fixture
def frozen_back() -> Iterator[None]:
    yield
    thaw_heap()
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("frozen_back")
def test_start_ups_objects_are_frozen_and_new_ones_still_collected() -> None:
    assert freeze_startup_heap() > 0
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


def test_a_slow_collection_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(heap, "SLOW_SECONDS", -1.0)  # every collection counts as slow
    slow = SlowCollections()
    slow.install()
    slow.install()  # once only
    try:
        gc.collect()
    finally:
        slow.remove()
    assert next(r.getMessage() for r in caplog.records if r.name == heap.__name__).startswith(
        "garbage collection of generation 2 took"
    )
    assert slow not in gc.callbacks
