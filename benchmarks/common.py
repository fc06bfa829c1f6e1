"""Shared set-up of the benchmarks: the sample catalog, a cube, the shipped model."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import psutil
import xarray as xr

from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.grid import CubeGrid
from cohcube.pipeline.sample import SampleSpec, default_sample_catalog
from cohcube.pipeline.search import SceneQuery, search_scenes

#: The sample catalog's grid (EPSG:32633, 10 m, top-left 600000 / 5200000).
ORIGIN = (600_000.0, 5_200_000.0)


def sample_cube(
    size_px: int = 2048, chunk_px: int = 1024, sample: SampleSpec | None = None
) -> xr.DataArray:
    """The top-left ``size_px``^2 of the embedded sample (or of a larger ``sample``) as a cube."""
    left, top = ORIGIN
    grid = CubeGrid(32633, 10.0, (left, top - 10.0 * size_px, left + 10.0 * size_px, top))
    catalog = None if sample is None else default_sample_catalog(sample)
    return build_cube(search_scenes(catalog, SceneQuery()), grid=grid, chunk_px=chunk_px)


@dataclass
class PeakMemory:
    """Peak resident memory of this process and its children, sampled every 50 ms."""

    peak_bytes: int = 0
    #: Peak RSS of each process on its own (pid -> bytes); this process is ``os.getpid()``.
    peak_by_process: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        root = psutil.Process(os.getpid())
        while not self._stop.is_set():
            total = 0
            for proc in [root, *root.children(recursive=True)]:
                with suppress(psutil.Error):
                    rss = proc.memory_info().rss
                    total += rss
                    self.peak_by_process[proc.pid] = max(self.peak_by_process.get(proc.pid, 0), rss)
            self.peak_bytes = max(self.peak_bytes, total)
            time.sleep(0.05)

    def describe_processes(self, at_least: int = 100 * 2**20) -> str:
        """``'driver 424 MiB, workers 742 / 733 MiB'``: this process, then its children of at
        least ``at_least`` bytes (the worker processes; nannies and trackers are smaller)."""
        here = self.peak_by_process.get(os.getpid(), 0)
        children = sorted(
            (b for pid, b in self.peak_by_process.items() if pid != os.getpid() and b >= at_least),
            reverse=True,
        )
        workers = " / ".join(f"{b / 2**20:.0f}" for b in children) or "none"
        return f"driver {here / 2**20:.0f} MiB, workers {workers} MiB"


@contextmanager
def peak_memory() -> Iterator[PeakMemory]:
    meter = PeakMemory()
    thread = threading.Thread(target=meter._sample, daemon=True)
    thread.start()
    try:
        yield meter
    finally:
        meter._stop.set()
        thread.join()


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start


def cpu_description() -> str:
    """``'AMD EPYC (avx512_bf16), 2 cores'``: the CPU model and its reduced-precision flags."""
    name, flags = "unknown CPU", set()
    with suppress(OSError):
        for line in open("/proc/cpuinfo").read().splitlines():  # noqa: SIM115
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name == "unknown CPU":
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    native = sorted(flags & {"amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2"})
    return f"{name} ({', '.join(native) or 'no AVX2'}), {os.cpu_count()} cores"
