"""Several tiles in flight at once: a bounded window over the tiles of a job.

Each tile is built, inferred and committed by its own driver thread; their
regions share the cluster, so workers never idle at a tile boundary (the next
tiles' reads are already queued). The window (tiles in flight) is asked for
again each time a tile finishes, so it follows a cluster that grows or
shrinks. A tile that fails with a ``CohcubeError`` (an unreadable asset, a
store problem) is reported and the others go on; anything else is a bug and
stops the job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tqdm.auto import tqdm

from cohcube.model.errors import CohcubeError
from cohcube.pipeline.store.regions import RegionCallback

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
#: Most tiles in flight whatever the cluster: each holds a graph on the scheduler.
MAX_TILES_IN_FLIGHT = 64


def tiles_for_threads(threads: int) -> int:
    """Tiles in flight for ``threads`` worker threads: two per thread, plus two. A tile
    spends part of its time on the driver (graph, plan, commit) with nothing on the
    cluster, so each running tile needs one queued behind it. Measured on 2 workers x 1
    thread, 16 tiles of 512 px (``benchmarks/bench_continental.py utilisation``, AMD EPYC):
    workers busy 45.6 % one tile at a time, 81.9 % with 3 in flight, 85.2 % with 6."""
    return max(2, min(MAX_TILES_IN_FLIGHT, 2 * threads + 2))


@dataclass
class WindowOutcome(Generic[Item, Result]):
    """What the window did: results in the order of the items, and the failures."""

    results: list[Result | None]
    failures: list[tuple[Item, CohcubeError]] = field(default_factory=list)


def run_window(
    items: Sequence[Item],
    work: Callable[[Item, RegionCallback], Result],
    window: Callable[[], int],
    *,
    progress: bool = True,
    label: Callable[[Item], str] = str,
) -> WindowOutcome[Item, Result]:
    """Run ``work(item, on_region)`` for every item, at most ``window()`` at a time.

    ``on_region`` advances the regions progress bar (call it once per region written).
    """
    outcome: WindowOutcome[Item, Result] = WindowOutcome(results=[None] * len(items))
    regions = tqdm(desc="regions", unit="region", disable=not progress, position=1)
    tiles = tqdm(total=len(items), desc="tiles", unit="tile", disable=not progress, position=0)
    lock = threading.Lock()

    def on_region() -> None:
        with lock:
            regions.update(1)

    queue = list(enumerate(items))[::-1]
    running: dict[Future[Result], int] = {}
    executor = ThreadPoolExecutor(max_workers=MAX_TILES_IN_FLIGHT, thread_name_prefix="tile")
    try:
        while queue or running:
            limit = max(1, window())  # asked once per round: it may be a scheduler call
            while queue and len(running) < limit:
                index, item = queue.pop()
                running[executor.submit(work, item, on_region)] = index
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                try:
                    outcome.results[index] = future.result()
                except CohcubeError as exc:
                    log.error("%s failed: %s", label(items[index]), exc)
                    outcome.failures.append((items[index], exc))
                tiles.update(1)
    finally:
        # On an error or Ctrl-C: start nothing new; running tiles end with the cluster.
        executor.shutdown(wait=False, cancel_futures=True)
        tiles.close()
        regions.close()
    return outcome
