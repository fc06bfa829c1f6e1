"""Continental-job benchmarks: cluster utilisation with tiles in flight, driver memory.

    python benchmarks/bench_continental.py utilisation    # 16 tiles of 512 px, 2 workers
    python benchmarks/bench_continental.py driver-memory  # 4 vs 64 tiles of 256 px

Both run ``cohcube process`` (``run_process``) over the embedded sample with the
shipped model on a ``distributed.LocalCluster`` of 2 single-threaded worker
processes that the benchmark starts; the job connects to it by address.
``utilisation`` records Dask's task stream: busy = the workers' compute time /
(worker threads x the compute phase, first task start to last task end), for
the old loop (``tiles_in_flight: 1``, one tile after another) and the default
window, and checks the two stores hold identical cubes. ``driver-memory`` runs
the job in a child process and reports that process's peak RSS (the cluster's
processes are not counted).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ORIGIN
from distributed import Client, LocalCluster, get_task_stream
from shapely import box
from shapely.geometry import mapping

from cohcube.flows.job_config import ProcessConfig
from cohcube.flows.process import run_process
from cohcube.pipeline.sample import default_sample_catalog
from cohcube.pipeline.store.tile_set import open_tile, tile_ids
from cohcube.pipeline.tiles import TileGrid, reprojected, tiles_for_region

#: Four passes of the sample (6 days apart): two 12-day pairs per tile.
TIME = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-21T00:00:00Z"}


def region_of(tiles_per_side: int, tile_px: int, work: Path) -> Path:
    """A GeoJSON region inside the sample touching ``tiles_per_side``^2 tiles of the lattice."""
    from pyproj import Transformer

    step = tile_px * 10.0
    left = np.floor(ORIGIN[0] / step) * step
    top = np.ceil(ORIGIN[1] / step) * step
    inset = 100.0
    outline = box(
        max(left, ORIGIN[0]) + inset,
        top - tiles_per_side * step + inset,
        left + tiles_per_side * step - inset,
        min(top, ORIGIN[1]) - inset,
    )
    lonlat = reprojected(outline, Transformer.from_crs(32633, 4326, always_xy=True))
    path = work / f"region-{tiles_per_side}x{tile_px}.geojson"
    path.write_text(json.dumps(mapping(lonlat)))
    found = len(tiles_for_region(lonlat, TileGrid(tile_px=tile_px)))
    if found != tiles_per_side**2:
        raise SystemExit(f"region touches {found} tiles, not {tiles_per_side**2}")
    return path


def job(region: Path, store: Path, tile_px: int, address: str, window: int | None) -> ProcessConfig:
    return ProcessConfig.model_validate(
        {
            "region": {"geojson": str(region)},
            "catalog": str(default_sample_catalog()),
            "time": TIME,
            "pairs": {"policy": "fixed", "baselines_days": [12]},
            "grid": {"tile_px": tile_px},
            "output": {"store": str(store)},
            "cluster": {"address": address, "tiles_in_flight": window},
        }
    )


def busy_fraction(stream: list[dict], threads: int) -> tuple[float, float]:
    """(busy fraction, compute-phase seconds) from a task stream."""
    spans = [
        (s["start"], s["stop"])
        for task in stream
        for s in task["startstops"]
        if s["action"] == "compute"
    ]
    first = min(a for a, _ in spans)
    last = max(b for _, b in spans)
    busy = sum(b - a for a, b in spans)
    return busy / (threads * (last - first)), last - first


def utilisation(extra_windows: tuple[int, ...] = ()) -> None:
    work = Path(tempfile.mkdtemp(prefix="cohcube-bench-"))
    region = region_of(4, 512, work)
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    results = {}
    try:
        with Client(cluster) as client:
            threads = sum(client.nthreads().values())
            warm = job(
                region_of(1, 512, work), work / "warm.zarr", 512, cluster.scheduler_address, 1
            )
            run_process(warm, progress=False)  # sample generated, workers' model loaded
            runs = [("one tile at a time", 1), ("tiles in flight (default)", None)]
            runs += [(f"{w} tiles in flight", w) for w in extra_windows]
            for name, window in runs:
                store = work / f"{window}.zarr"
                config = job(region, store, 512, cluster.scheduler_address, window)
                with get_task_stream(client) as stream:
                    start = time.perf_counter()
                    report = run_process(config, progress=False)
                    wall = time.perf_counter() - start
                busy, phase = busy_fraction(stream.data, threads)
                results[name] = (busy, phase, wall, report.pairs_added, store)
        stores = [r[4] for r in results.values()]
        same = tile_ids(str(stores[0])) == tile_ids(str(stores[1])) and all(
            np.array_equal(
                open_tile(stores[0], t)["coherence"].values,
                open_tile(stores[1], t)["coherence"]
                .sel(pair=open_tile(stores[0], t)["pair"])
                .values,
                equal_nan=True,
            )
            for t in tile_ids(str(stores[0]))
        )
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    print("16 tiles of 512 px, 2 pairs each, shipped model fp32, 2 workers x 1 thread")
    for name, (busy, phase, wall, pairs, _) in results.items():
        print(
            f"{name:<28} workers busy {100 * busy:5.1f} % of the compute phase ({phase:6.1f} s); "
            f"job {wall:6.1f} s, {pairs} pairs"
        )
    print(f"identical cubes: {same}; target: busy >= 85 %")


def _job_in_child(config_json: str) -> None:
    """Run one job (config as JSON) and print this process's peak RSS in MiB."""
    run_process(ProcessConfig.model_validate_json(config_json), progress=False)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def driver_memory() -> None:
    work = Path(tempfile.mkdtemp(prefix="cohcube-bench-"))
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    peaks = {}
    try:
        default_sample_catalog()
        for side in (2, 8):
            config = job(
                region_of(side, 256, work),
                work / f"{side}.zarr",
                256,
                cluster.scheduler_address,
                None,
            )
            child = subprocess.run(
                [sys.executable, __file__, "_job", config.model_dump_json()],
                capture_output=True,
                text=True,
                check=True,
            )
            peaks[side * side] = float(child.stdout.strip().splitlines()[-1])
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    for tiles, peak in peaks.items():
        print(f"{tiles:3d} tiles of 256 px: driver peak RSS {peak:7.0f} MiB")
    print(f"driver peak 64 tiles / 4 tiles: {peaks[64] / peaks[4]:.2f} (target <= 1.3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=["utilisation", "driver-memory", "_job"])
    parser.add_argument("config", nargs="?")
    parser.add_argument(
        "--windows", default="", help="utilisation: more window sizes to try, e.g. 4,6"
    )
    args = parser.parse_args()
    if args.which == "_job":
        _job_in_child(args.config)
    elif args.which == "utilisation":
        utilisation(tuple(int(w) for w in args.windows.split(",") if w))
    else:
        driver_memory()


if __name__ == "__main__":
    main()
