"""The tile set: one coherence cube per tile under one root, its grid, run log and progress mark."""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pytest
import zarr
from support.store_job import LAYOUT, job_dataset

from cohcube.model.errors import StoreError
from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.store import write_coherence
from cohcube.pipeline.store.tile_set import (
    MAX_RUN_LOG,
    held_through,
    mark_run_open,
    open_tile,
    open_tile_set,
    record_run,
    tile_ids,
    tile_url,
    unfinished_run,
)
from cohcube.pipeline.tiles import TileGrid

GRID = TileGrid(tile_px=256, resolution_m=10.0)


def test_held_through_follows_the_tile_that_lags(
    small_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    store = str(tmp_path / "tiles.zarr")
    open_tile_set(store, GRID)
    assert held_through(store) is None
    with dask.config.set(scheduler="single-threaded"):
        # Tile A got 5 pairs; tile B fell behind after 2 (e.g. its run failed part-way).
        for tile, pairs in (("33N_1_2", 5), ("33N_1_3", 2)):
            write_coherence(
                job_dataset(small_sample.items, tiny_artefact, n_pairs=pairs),
                tile_url(store, tile),
                LAYOUT,
            )
    assert tile_ids(store) == ["33N_1_2", "33N_1_3"]
    ahead = open_tile(store, "33N_1_2")["secondary_time"].values
    behind = open_tile(store, "33N_1_3")["secondary_time"].values
    assert behind.max() < ahead.max()
    assert held_through(store) == behind.max()


def test_the_grid_and_the_run_log(tmp_path: Path) -> None:
    store = str(tmp_path / "tiles.zarr")
    root = open_tile_set(store, GRID)
    with pytest.raises(StoreError, match="was made with tile grid"):
        open_tile_set(store, TileGrid(tile_px=512, resolution_m=10.0))
    for k in range(MAX_RUN_LOG + 3):
        record_run(root, {"pairs_added": k})
    runs = zarr.open_group(store, mode="r").attrs["cohcube:runs"]
    assert [r["pairs_added"] for r in runs] == list(range(3, MAX_RUN_LOG + 3))
    assert all(np.datetime64(r["finished"].replace("+00:00", "")) for r in runs)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "data.txt").write_text("not a store")
    with pytest.raises(StoreError, match="not a cohcube"):
        open_tile_set(str(tmp_path / "plain"), GRID)


def test_a_run_that_did_not_finish_is_known(tmp_path: Path) -> None:
    store = str(tmp_path / "tiles.zarr")
    root = open_tile_set(store, GRID)
    assert unfinished_run(store) is None
    mark_run_open(root)
    assert "did not finish" in (unfinished_run(store) or "")
    record_run(root, {"pairs_added": 3, "tiles_failed": []})
    assert unfinished_run(store) is None
    record_run(root, {"pairs_added": 1, "tiles_failed": ["33N_1_3"]})
    assert unfinished_run(store) == "1 tile(s) failed in the last run (first: 33N_1_3)"
