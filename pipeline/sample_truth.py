"""The sample catalog's truth as analysis-ready objects: true coherence cubes, change events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from numpy.typing import NDArray

from .inference import pair_coords
from .pairs import acquisitions_of, select_pairs
from .sample_catalog import SampleCatalog, truth_for_pairs
from .search import read_local_items


def truth_cube(catalog: SampleCatalog, baselines_days: Sequence[float] = (12.0,)) -> xr.Dataset:
    """The simulator's true VV coherence of the sample's pairs, shaped like a coherence cube.

    ``coherence`` on ``(pair, y, x)`` with the cube's pair coordinates, on the
    sample's grid and CRS; pairs chosen by ``select_pairs`` at ``baselines_days``.
    """
    scenes = read_local_items(catalog.items)
    pairs = select_pairs(acquisitions_of(scenes), tuple(baselines_days))
    maps = truth_for_pairs(
        catalog, list(pairs["reference_time"].to_numpy()), list(pairs["secondary_time"].to_numpy())
    )
    if any(m is None for m in maps):
        raise ValueError(f"the sample has no truth for some {list(baselines_days)}-day pairs")
    first = next(i for i in read_local_items(catalog.truth_items) if i.id != "changes")
    with rasterio.open(first.assets["coherence-vv"].href) as src:
        transform, crs, (ny, nx) = src.transform, src.crs, src.shape
    x = transform.c + transform.a * (np.arange(nx) + 0.5)
    y = transform.f + transform.e * (np.arange(ny) + 0.5)
    data = np.stack([m for m in maps if m is not None])
    dataset = xr.Dataset(
        {"coherence": (("pair", "y", "x"), data)},
        coords=pair_coords(pairs) | {"y": y, "x": x},
    )
    return dataset.rio.write_crs(crs)


@dataclass(frozen=True)
class ChangeTruth:
    """The simulated events of a sample catalog on its grid.

    Attributes:
        day: (y, x) days after ``start`` of the change, -1 where none.
        kind: (y, x) kind code (0 none), see ``kinds``.
        start: time of the first acquisition.
        kinds: code -> name.
    """

    day: NDArray[np.int16]
    kind: NDArray[np.uint8]
    start: np.datetime64
    kinds: dict[int, str]


def read_change_truth(catalog: SampleCatalog) -> ChangeTruth:
    """The ``changes`` truth item of a sample catalog."""
    features = json.loads(catalog.truth_items.read_text())["features"]
    item = next(f for f in features if f["id"] == "changes")
    with rasterio.open(item["assets"]["change-day"]["href"]) as src:
        day = src.read(1)
    with rasterio.open(item["assets"]["change-kind"]["href"]) as src:
        kind = src.read(1)
    start = np.datetime64(item["properties"]["start_datetime"].rstrip("Z"), "ns")
    kinds = {int(k): v for k, v in item["properties"]["cohcube:change_kinds"].items()}
    return ChangeTruth(day=day, kind=kind, start=start, kinds=kinds)
