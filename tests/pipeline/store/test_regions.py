"""Computing a batch's regions: the order that keeps shared inputs live, the bound on regions
in flight, and shared inputs read once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest
from dask import delayed
from dask.callbacks import Callback
from distributed import Client, LocalCluster
from support.store_job import LAYOUT, job_dataset

from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.store import write_coherence
from cohcube.pipeline.store.regions import (
    STRIP_REGIONS,
    compute_regions,
    region_order,
    regions_in_flight,
)


@pytest.mark.parametrize("shape", [(2, 3, 3), (1, 6, 6), (3, 5, 9), (2, 1, 7), (1, 4, 1)])
def test_region_order_visits_every_cell_once(shape: tuple[int, int, int]) -> None:
    order = list(region_order(shape))
    assert sorted(order) == sorted(np.ndindex(*shape))


@pytest.mark.parametrize("shape", [(2, 3, 3), (2, 6, 6), (3, 5, 9), (1, 8, 13)])
def test_a_chunks_next_user_in_its_strip_is_submitted_before_its_last_one_finishes(
    shape: tuple[int, int, int],
) -> None:
    """The regions using one input chunk (its own and its 8 neighbours, all pair blocks)
    follow each other, inside a strip, closer than the window of regions in flight."""
    pair_blocks, rows, columns = shape
    position = {cell: i for i, cell in enumerate(region_order(shape))}
    window = regions_in_flight(shape)
    for r, c in np.ndindex(rows, columns):
        users: dict[int, list[int]] = {}
        for j, ty, tx in np.ndindex(pair_blocks, 3, 3):
            y, x = r + ty - 1, c + tx - 1
            if 0 <= y < rows and 0 <= x < columns:
                users.setdefault(x // STRIP_REGIONS, []).append(position[(j, y, x)])
        for positions in users.values():
            assert int(np.diff(sorted(positions), prepend=min(positions)).max()) < window


def test_regions_in_flight_do_not_grow_with_the_area() -> None:
    widths = {regions_in_flight((2, rows, columns)) for rows in (4, 40) for columns in (4, 64)}
    assert widths == {2 * (STRIP_REGIONS + 2)}
    assert regions_in_flight((2, 3, 3)) == 2 * 5


def _slow_region(index: int) -> int:
    time.sleep(0.05)
    return index


def _unfinished_regions(dask_scheduler: Any) -> int:
    return sum(
        1
        for ts in dask_scheduler.tasks.values()
        if ts.prefix.name == "region" and ts.state in ("waiting", "queued", "processing")
    )


def test_compute_regions_keeps_at_most_the_window_in_flight_on_real_workers() -> None:
    unfinished: list[int] = []
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        tasks = [delayed(_slow_region)(i, dask_key_name=f"region-{i}") for i in range(24)]
        compute_regions(
            tasks,
            lambda: unfinished.append(client.run_on_scheduler(_unfinished_regions)),
            client=client,
            in_flight=4,
        )
    assert len(unfinished) == 24
    # Never more than the window, and the window kept full while regions remained.
    assert max(unfinished) <= 4
    assert max(unfinished[:10]) >= 2


def test_each_input_chunk_is_read_once_for_all_the_regions_using_it(
    small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    """Neighbouring regions share their reads (halos) and pair blocks their dates: every read
    task runs once, however many regions use it."""
    reads: list[tuple[str, tuple[int, ...]]] = []

    def note(key: Any, *_: Any) -> None:
        if isinstance(key, tuple) and str(key[0]).startswith("_first_valid"):
            # One name per layer; a graph culled region by region renames its copies.
            reads.append(("-".join(str(key[0]).split("-")[:2]), tuple(key[1:])))

    dataset = job_dataset(small_sample.items, tiny_artefact)
    with dask.config.set(scheduler="single-threaded"), Callback(pretask=note):
        report = write_coherence(dataset, tmp_path / "cube.zarr", LAYOUT)
    assert report.regions_computed == report.regions_total > 1
    assert reads, "no read task seen: the cube's read layer has another name"
    assert len(reads) == len(set(reads))
