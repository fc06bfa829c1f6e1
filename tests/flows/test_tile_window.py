"""The window of tiles in flight: bounded, following the cluster, isolating failed tiles."""

from __future__ import annotations

import threading
import time

import pytest

from cohcube.flows.tile_window import run_window, tiles_for_threads
from cohcube.model.errors import InputDataError
from cohcube.pipeline.store.regions import RegionCallback


class Gauge:
    """Counts the items running at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()

    def work(self, item: int, on_region: RegionCallback) -> int:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.05)
        on_region()
        with self.lock:
            self.now -= 1
        if item == 3:
            raise InputDataError("tile 3 cannot be read")
        return item * 10


def test_the_window_bounds_tiles_in_flight_and_isolates_failures() -> None:
    gauge = Gauge()
    outcome = run_window(list(range(8)), gauge.work, lambda: 3, progress=False)
    assert gauge.most == 3
    assert outcome.results == [0, 10, 20, None, 40, 50, 60, 70]
    assert [(item, str(error)) for item, error in outcome.failures] == [
        (3, "tile 3 cannot be read")
    ]


def test_the_window_follows_a_growing_cluster() -> None:
    gauge = Gauge()
    sizes = iter([1, 1, 4])
    outcome = run_window(list(range(10)), gauge.work, lambda: next(sizes, 4), progress=False)
    assert gauge.most == 4
    assert len(outcome.failures) == 1


def test_a_bug_is_not_a_failed_tile() -> None:
    def broken(item: int, on_region: RegionCallback) -> int:
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        run_window([1, 2], broken, lambda: 2, progress=False)


def test_tiles_for_threads() -> None:
    assert tiles_for_threads(1) == 4
    assert tiles_for_threads(8) == 18
    assert tiles_for_threads(10_000) == 64
