"""Whole-job benchmarks (read COGs -> infer -> Zarr on disk), ratios measured in one run.

    python benchmarks/bench_jobs.py e2e       # job throughput vs pure model forward
    python benchmarks/bench_jobs.py memory    # peak memory at 1x and 4x the area
    python benchmarks/bench_jobs.py workers   # 2 workers x 1 thread vs 1 worker x 1 thread

Jobs run on a ``distributed.LocalCluster`` of worker processes over the embedded
sample catalog (generated into the cache on first use) with the shipped model.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import zarr
from common import peak_memory, sample_cube
from distributed import Client, LocalCluster

from cohcube.model.learning.artefact import load_model
from cohcube.model.learning.preprocessing import network_input
from cohcube.pipeline.inference import predict_coherence
from cohcube.pipeline.pairs import select_pairs
from cohcube.pipeline.store import StoreLayout, write_coherence

N_PAIRS = 4


def run_job(size: int, workers: int, out: Path, chunk: int = 1024) -> float:
    """Seconds for one job of ``N_PAIRS`` 12-day pairs over ``size``^2 px in ``chunk`` px tiles."""
    layout = StoreLayout(shard_px=chunk, chunk_px=256)
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        with Client(cluster):
            cube = sample_cube(size_px=size, chunk_px=layout.shard_px)
            pairs = select_pairs(cube, (12,)).iloc[:N_PAIRS]
            dataset = predict_coherence(cube, pairs, chunk=layout.shard_px, pair_batch=2)
            start = time.perf_counter()
            write_coherence(dataset, out, layout)
            return time.perf_counter() - start
    finally:
        cluster.close()


def e2e(size: int = 2048) -> None:
    work = Path(tempfile.mkdtemp(prefix="cohcube-bench-"))
    try:
        run_job(1024, 2, work / "warm.zarr")  # warm caches (sample, page cache, imports)
        job_s = run_job(size, 2, work / "cube.zarr")
        torch.set_num_threads(2)
        model = load_model()
        cube = sample_cube(size_px=size, chunk_px=1024)
        pairs = select_pairs(cube, (12,)).iloc[:N_PAIRS]
        inputs = []
        for row in pairs.itertuples():
            ref = cube.isel(time=row.reference_index).values
            sec = cube.isel(time=row.secondary_index).values
            inputs.append(network_input(ref, sec, model.contract)[0])
        model.forward_channels(inputs[0][None, :, :256, :256])
        start = time.perf_counter()
        for channels in inputs:
            model.forward_channels(channels[None])
        forward_s = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pixels = N_PAIRS * size * size
    print(f"{N_PAIRS} pairs of {size} x {size} px, model {model.name}")
    print(
        f"end to end (COGs -> Dask 2x1 -> Zarr): {job_s:7.2f} s  {pixels / job_s / 1e6:.3f} Mpx/s"
    )
    print(
        f"model forward only (in memory, 2 thr): {forward_s:7.2f} s  "
        f"{pixels / forward_s / 1e6:.3f} Mpx/s"
    )
    print(f"end-to-end / forward throughput: {forward_s / job_s:.2f} (target >= 0.85)")


def memory(chunk: int = 512) -> None:
    # Both areas span several chunks (4 and 16), so both pay for halos the same way.
    work = Path(tempfile.mkdtemp(prefix="cohcube-bench-"))
    try:
        peaks = {}
        for size in (1024, 2048):
            with peak_memory() as meter:
                run_job(size, 2, work / f"cube-{size}.zarr", chunk=chunk)
            peaks[size] = meter.peak_bytes
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for size, peak in peaks.items():
        print(
            f"{size} x {size} px ({N_PAIRS} pairs, {chunk} px chunks): peak memory "
            f"{peak / 2**20:7.0f} MiB (driver + scheduler + workers)"
        )
    print(f"peak memory 4x area / 1x area: {peaks[2048] / peaks[1024]:.2f} (target <= 1.1)")


def workers(size: int = 2048) -> None:
    work = Path(tempfile.mkdtemp(prefix="cohcube-bench-"))
    try:
        run_job(1024, 1, work / "warm.zarr")
        one = run_job(size, 1, work / "one.zarr")
        two = run_job(size, 2, work / "two.zarr")
        one_cube, two_cube = (
            np.asarray(zarr.open_array(str(work / n / "coherence"))[:])
            for n in ("one.zarr", "two.zarr")
        )
        same = np.array_equal(one_cube, two_cube, equal_nan=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{N_PAIRS} pairs of {size} x {size} px: 1 worker x 1 thread {one:.1f} s, "
        f"2 workers x 1 thread {two:.1f} s (identical cubes: {same})"
    )
    print(f"speed-up 2 workers / 1 worker: {one / two:.2f} (target >= 1.8)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=["e2e", "memory", "workers"])
    args = parser.parse_args()
    {"e2e": e2e, "memory": memory, "workers": workers}[args.which]()


if __name__ == "__main__":
    main()
