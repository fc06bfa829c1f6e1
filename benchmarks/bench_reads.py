"""Reading the coherence cube: one pixel's time series and one pair's map, per layout.

    python benchmarks/bench_reads.py

Writes the sample catalog's 35 true-coherence pairs (6/12/24 days, 2048 x 2048 px)
into cubes of several layouts with ``write_coherence`` and reads them back,
counting the storage objects touched and the requests made.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rioxarray
import xarray as xr
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import LocalStore, WrapperStore

from cohcube.pipeline.sample import SampleCatalog, default_sample_catalog
from cohcube.pipeline.search import read_local_items
from cohcube.pipeline.store import StoreLayout, write_coherence
from cohcube.pipeline.store.schema import pair_coords

LAYOUTS = {
    "chunks 1x256x256": StoreLayout(shard_px=1024, chunk_px=256),
    "chunks 1x512x512": StoreLayout(shard_px=1024, chunk_px=512),
    "shards 1x1024x1024 of 1x128x128": StoreLayout(shard_px=1024, chunk_px=128, sharded=True),
}


class CountingStore(WrapperStore[Store]):
    """Counts read requests and the distinct objects they touch."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.keys: set[str] = set()
        self.requests = 0

    def reset(self) -> None:
        self.keys.clear()
        self.requests = 0

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        self.keys.add(key)
        self.requests += 1
        return await self._store.get(key, prototype, byte_range)

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        ranges = list(key_ranges)
        self.keys.update(k for k, _ in ranges)
        self.requests += len(ranges)
        return await self._store.get_partial_values(prototype, ranges)


def truth_dataset(sample: SampleCatalog) -> xr.Dataset:
    items = [i for i in read_local_items(sample.truth_items) if i.id != "changes"]
    items.sort(
        key=lambda i: (
            i.properties["cohcube:secondary_datetime"],
            i.properties["cohcube:temporal_baseline_days"],
        )
    )
    stack = [
        rioxarray.open_rasterio(
            i.assets["coherence-vv"].href, chunks={"x": 1024, "y": 1024}
        ).squeeze("band", drop=True)
        * 0.004
        for i in items
    ]
    data = xr.concat(stack, dim="pair").astype(np.float32)
    table = pd.DataFrame(
        {
            "pair_id": [i.id for i in items],
            "reference_time": [
                pd.Timestamp(i.properties["cohcube:reference_datetime"]) for i in items
            ],
            "secondary_time": [
                pd.Timestamp(i.properties["cohcube:secondary_datetime"]) for i in items
            ],
            "temporal_baseline_days": [
                i.properties["cohcube:temporal_baseline_days"] for i in items
            ],
            "relative_orbit": [i.properties["sat:relative_orbit"] for i in items],
            "orbit_state": [i.properties["sat:orbit_state"] for i in items],
            "reference_platform": [i.properties["cohcube:reference_platform"] for i in items],
            "secondary_platform": [i.properties["cohcube:secondary_platform"] for i in items],
        }
    )
    for column in ("reference_time", "secondary_time"):
        table[column] = table[column].dt.tz_convert(None)
    dataset = xr.Dataset(
        {"coherence": data, "coherence_sigma": data * 0 + 0.05}, coords=pair_coords(table)
    )
    dataset = dataset.drop_vars(
        [c for c in dataset.coords if c not in ("x", "y", *pair_coords(table))]
    )
    dataset = dataset.rio.write_crs("EPSG:32633")
    dataset.attrs = {"model_name": "truth", "model_sha256": "truth", "software": "bench"}
    return dataset


def main() -> None:
    sample = SampleCatalog(default_sample_catalog().parents[1])
    dataset = truth_dataset(sample)
    n = dataset.sizes["pair"]
    work = Path(tempfile.mkdtemp(prefix="cohcube-reads-"))
    rows: list[dict[str, Any]] = []
    try:
        for name, layout in LAYOUTS.items():
            path = work / "cube.zarr"
            shutil.rmtree(path, ignore_errors=True)
            write_coherence(dataset, path, layout)
            store = CountingStore(LocalStore(str(path), read_only=True))
            cube = xr.open_zarr(store, consolidated=False)
            objects = sum(1 for p in path.rglob("*") if p.is_file())
            store.reset()
            start = time.perf_counter()
            series = cube.coherence.isel(y=1000, x=1000).values
            series_s = time.perf_counter() - start
            series_objects, series_requests = len(store.keys), store.requests
            store.reset()
            start = time.perf_counter()
            image = cube.coherence.isel(pair=n - 1).values
            map_s = time.perf_counter() - start
            assert series.shape == (n,)
            assert image.shape == (2048, 2048)
            rows.append(
                {
                    "layout": name,
                    "files": objects,
                    "series_objects": series_objects,
                    "series_requests": series_requests,
                    "series_ms": 1000 * series_s,
                    "map_objects": len(store.keys),
                    "map_requests": store.requests,
                    "map_ms": 1000 * map_s,
                }
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{n} pairs of 2048 x 2048 px; one pixel's time series and one pair's map")
    print(
        f"{'layout':<34} {'files':>6} {'series: objects/requests/ms':>28} "
        f"{'map: objects/requests/ms':>26}"
    )
    for r in rows:
        print(
            f"{r['layout']:<34} {r['files']:>6} {r['series_objects']:>10}/{r['series_requests']:>4}"
            f"/{r['series_ms']:>7.1f}     {r['map_objects']:>8}/{r['map_requests']:>4}/"
            f"{r['map_ms']:>7.1f}"
        )
    base = rows[0]
    for r in rows[1:]:
        print(
            f"{r['layout']}: series time x{base['series_ms'] / r['series_ms']:.1f} faster, "
            f"map time x{base['map_ms'] / r['map_ms']:.1f} faster than {base['layout']}"
        )


if __name__ == "__main__":
    main()
