"""A coherence job on the sample catalog, run as a separate driver process by the tests.

``python store_job.py ITEMS MODEL STORE`` builds the cube, predicts 12-day
pairs and writes them region by region on the single-threaded scheduler (slow
and steady, so a test can kill it part-way).
"""

from __future__ import annotations

import sys
from pathlib import Path

import dask
import xarray as xr

from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.grid import CubeGrid
from cohcube.pipeline.inference import predict_coherence
from cohcube.pipeline.pairs import select_pairs
from cohcube.pipeline.search import SceneQuery, search_scenes
from cohcube.pipeline.store import StoreLayout, write_coherence

LAYOUT = StoreLayout(shard_px=128, chunk_px=64)
#: The north-west 256 x 256 px of the sample: 2 x 2 regions per pair.
GRID = CubeGrid(32633, 10.0, (600_000.0, 5_197_440.0, 602_560.0, 5_200_000.0))


def job_dataset(items: Path, model: Path, n_pairs: int | None = None) -> xr.Dataset:
    cube = build_cube(search_scenes(items, SceneQuery()), grid=GRID, chunk_px=128)
    pairs = select_pairs(cube, (12,))
    if n_pairs is not None:
        pairs = pairs.iloc[:n_pairs]
    return predict_coherence(cube, pairs, model, chunk=LAYOUT.shard_px, pair_batch=2)


def main() -> None:
    items, model, store = (Path(a) for a in sys.argv[1:4])
    with dask.config.set(scheduler="single-threaded"):
        write_coherence(job_dataset(items, model), store, LAYOUT)


if __name__ == "__main__":
    main()
