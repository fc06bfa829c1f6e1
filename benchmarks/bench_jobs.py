"""Whole-job benchmarks (read COGs -> infer -> Zarr on disk), ratios measured in one run.

    python benchmarks/bench_jobs.py e2e       # job throughput vs pure model forward
    python benchmarks/bench_jobs.py e2e --precision bf16
    python benchmarks/bench_jobs.py memory    # peak memory at 1x and 4x the area
    python benchmarks/bench_jobs.py workers   # 1 x 1, 2 x 1 and 1 x 2 workers x threads

Jobs run on a ``distributed.LocalCluster`` of worker processes over the embedded
sample catalog (generated into the cache on first use) with the shipped model.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr
from common import peak_memory, sample_cube
from distributed import Client, LocalCluster

from cohcube.model.learning.artefact import load_model
from cohcube.model.learning.card import card_path_for, read_card
from cohcube.model.learning.preprocessing import network_input
from cohcube.pipeline.clusters import local_layout
from cohcube.pipeline.inference import predict_coherence
from cohcube.pipeline.pairs import select_pairs
from cohcube.pipeline.sample import SampleSpec
from cohcube.pipeline.store import StoreLayout, write_coherence
from cohcube.pipeline.worker_model import pair_batch_for, warm_workers

N_PAIRS = 4


@dataclass(frozen=True)
class Layout:
    """How a job runs: worker processes x threads, region side (px), warm-up, precision."""

    workers: int
    threads: int
    region_px: int
    warm: bool = True
    precision: str = "fp32"
    #: Pairs per block; None: what the job picks for its workers (``pair_batch_for``).
    pair_batch: int | None = None

    def describe(self) -> str:
        warm = "model loaded at cluster start" if self.warm else "model loaded inside the job"
        batch = (
            "pairs per block as the job picks"
            if self.pair_batch is None
            else (f"{self.pair_batch} pairs per block")
        )
        return (
            f"{self.workers} worker(s) x {self.threads} thread(s), {self.region_px} px regions, "
            f"{batch}, {self.precision}, {warm}"
        )


#: What cohcube did before (2 x 1, 1024 px regions, each worker loading the model in its
#: first task) and what it does now on a 2-core machine (the local cluster's defaults).
BEFORE = Layout(workers=2, threads=1, region_px=1024, warm=False, pair_batch=2)


def default_layout(precision: str = "fp32") -> Layout:
    workers, threads = local_layout(None, None)
    return Layout(workers, threads, StoreLayout().shard_px, precision=precision)


def run_job(size: int, layout: Layout, out: Path, sample: SampleSpec | None = None) -> float:
    """Seconds for one job of ``N_PAIRS`` 12-day pairs over ``size``^2 px (cluster start and,
    with ``layout.warm``, the model load excluded: they happen once per job, not per tile)."""
    store = StoreLayout(shard_px=layout.region_px, chunk_px=256)
    cluster = LocalCluster(
        n_workers=layout.workers,
        threads_per_worker=layout.threads,
        processes=True,
        dashboard_address=":0",
    )
    try:
        with Client(cluster) as client:
            card = read_card(None)
            if layout.warm:
                warm_workers(client, card_path_for(None), card.artefact.sha256, layout.precision)
            cube = sample_cube(size_px=size, chunk_px=store.shard_px, sample=sample)
            pairs = select_pairs(cube, (12,)).iloc[:N_PAIRS]
            dataset = predict_coherence(
                cube,
                pairs,
                chunk=store.shard_px,
                pair_batch=layout.pair_batch or pair_batch_for(client),
                precision=layout.precision,
            )
            start = time.perf_counter()
            write_coherence(dataset, out, store)
            return time.perf_counter() - start
    finally:
        cluster.close()


def forward_seconds(size: int, precision: str = "fp32") -> float:
    """The model alone (in memory, 2 threads) on exactly the job's output pixels."""
    torch.set_num_threads(2)
    model = load_model(precision=precision)
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
    return time.perf_counter() - start


def e2e(size: int = 2048, precision: str = "fp32", pair_batch: int | None = None) -> None:
    work = Path(tempfile.mkdtemp(prefix="cohcube-bench-"))
    after = replace(default_layout(precision), pair_batch=pair_batch)
    before = BEFORE if precision == "fp32" else replace(BEFORE, precision=precision)
    try:
        run_job(1024, after, work / "warm.zarr")  # warm caches (sample, page cache, imports)
        seconds = {
            "before": run_job(size, before, work / "before.zarr"),
            "after": run_job(size, after, work / "after.zarr"),
        }
        forward_s = forward_seconds(size, precision)
        cubes = [
            np.asarray(zarr.open_array(str(work / f"{n}.zarr" / "coherence"))[:])
            for n in ("before", "after")
        ]
        difference = float(np.nanmax(np.abs(cubes[0] - cubes[1])))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pixels = N_PAIRS * size * size
    print(f"{N_PAIRS} pairs of {size} x {size} px, shipped model, {precision}")
    for name, layout in (("before", before), ("after", after)):
        job_s = seconds[name]
        print(
            f"end to end {name:<6} ({layout.describe()}): {job_s:7.2f} s  "
            f"{pixels / job_s / 1e6:.3f} Mpx/s  end-to-end / forward {forward_s / job_s:.2f}"
        )
    print(
        f"model forward only (in memory, 2 threads, the job's output pixels): {forward_s:7.2f} s  "
        f"{pixels / forward_s / 1e6:.3f} Mpx/s"
    )
    print(f"max |before - after| coherence: {difference:.1e} (seam tolerance 1e-3)")
    print(
        f"end-to-end / forward at the defaults: {forward_s / seconds['after']:.2f} (target >= 0.85)"
    )


def memory(region: int = 512, pair_batch: int | None = None) -> None:
    # 3 x 3 and 6 x 6 regions: both areas have interior regions (halo on all four sides), so
    # the largest forward window, and with it the activation memory, is the same in both.
    work = Path(tempfile.mkdtemp(prefix="cohcube-bench-"))
    layout = replace(default_layout(), region_px=region, pair_batch=pair_batch)
    sizes = (3 * region, 6 * region)
    sample = SampleSpec(size_px=max(2048, sizes[1]))
    try:
        run_job(region, layout, work / "warm.zarr", sample)  # sample generated, caches warm
        peaks, processes = {}, {}
        for size in sizes:
            with peak_memory() as meter:
                run_job(size, layout, work / f"cube-{size}.zarr", sample)
            peaks[size] = meter.peak_bytes
            processes[size] = meter.describe_processes()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{layout.describe()}, {N_PAIRS} pairs")
    for size, peak in peaks.items():
        print(
            f"{size} x {size} px ({(size // region) ** 2} regions): peak memory "
            f"{peak / 2**20:7.0f} MiB (driver + scheduler + workers; each: {processes[size]})"
        )
    ratio = peaks[sizes[1]] / peaks[sizes[0]]
    print(f"peak memory 4x area / 1x area: {ratio:.2f} (target <= 1.1)")


def _timed_forward(size: int, barrier: Any, results: Any) -> None:
    """One single-threaded forward pass of ``size`` px, started with the other processes."""
    torch.set_num_threads(1)
    model = load_model(precision="fp32")
    channels = np.random.default_rng(0).random((1, 4, size, size), dtype=np.float32)
    model.forward_channels(channels[:, :, :256, :256])
    barrier.wait()
    start = time.perf_counter()
    model.forward_channels(channels)
    results.put(time.perf_counter() - start)


def forward_ceiling(size: int = 2048) -> float:
    """What two single-threaded workers can gain at most here: two forward passes at once in
    two processes against one alone (memory bandwidth and caches shared, no job around them)."""
    context = mp.get_context("spawn")
    seconds = {}
    for n in (1, 2):
        barrier, results = context.Barrier(n), context.Queue()
        procs = [
            context.Process(target=_timed_forward, args=(size, barrier, results)) for _ in range(n)
        ]
        for proc in procs:
            proc.start()
        times = [results.get() for _ in procs]
        for proc in procs:
            proc.join()
        seconds[n] = max(times)
        print(f"{n} forward pass(es) of {size} px at once, 1 thread each: {seconds[n]:6.1f} s")
    return 2 * seconds[1] / seconds[2]


def workers(size: int = 2048) -> None:
    work = Path(tempfile.mkdtemp(prefix="cohcube-bench-"))
    region = StoreLayout().shard_px
    layouts = {
        "1 x 1": Layout(1, 1, region),
        "2 x 1": Layout(2, 1, region),
        "1 x 2": Layout(1, 2, region),
    }
    try:
        run_job(1024, layouts["2 x 1"], work / "warm.zarr")
        seconds = {
            name: run_job(size, lay, work / f"{i}.zarr")
            for i, (name, lay) in enumerate(layouts.items())
        }
        cubes = [
            np.asarray(zarr.open_array(str(work / f"{i}.zarr" / "coherence"))[:])
            for i in range(len(layouts))
        ]
        same = all(np.array_equal(cubes[0], c, equal_nan=True) for c in cubes[1:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{N_PAIRS} pairs of {size} x {size} px, {region} px regions (identical cubes: {same})")
    for name, lay in layouts.items():
        print(f"{lay.describe():<70} {seconds[name]:7.1f} s")
    print(f"speed-up 2 workers x 1 / 1 worker x 1: {seconds['1 x 1'] / seconds['2 x 1']:.2f}")
    print(f"speed-up 1 worker x 2 / 1 worker x 1: {seconds['1 x 1'] / seconds['1 x 2']:.2f}")
    ceiling = forward_ceiling(size)
    print(f"ceiling for 2 workers here (2 forward passes at once / 1 alone): {ceiling:.2f}")
    chosen = default_layout()
    print(f"the local cluster's default here: {chosen.workers} worker(s) x {chosen.threads}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=["e2e", "memory", "workers"])
    parser.add_argument("--precision", default="fp32", help="e2e: fp32, bf16, fp16 or auto.")
    parser.add_argument(
        "--pair-batch",
        type=int,
        help="memory, e2e (after): pairs per block (default: as the job picks).",
    )
    args = parser.parse_args()
    if args.which == "e2e":
        e2e(precision=args.precision, pair_batch=args.pair_batch)
    elif args.which == "memory":
        memory(pair_batch=args.pair_batch)
    else:
        workers()


if __name__ == "__main__":
    main()
