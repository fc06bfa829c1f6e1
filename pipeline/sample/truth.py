"""The sample catalog's truth as analysis-ready objects: true coherence and backscatter, events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from numpy.typing import NDArray

from cohcube.model.physics.landcover import POLARIZATIONS, backscatter_map
from cohcube.pipeline.pairs import acquisitions_of, select_pairs
from cohcube.pipeline.store.schema import pair_coords

from .simulate import simulate_ground
from .spec import TRUTH_NODATA, TRUTH_SCALE, SampleCatalog, SampleSpec


def _items(path: Path) -> list[pystac.Item]:
    return list(pystac.ItemCollection.from_file(str(path)).items)


def truth_cube(catalog: SampleCatalog, baselines_days: Sequence[float] = (12.0,)) -> xr.Dataset:
    """The simulator's true VV coherence of the sample's pairs, shaped like a coherence cube.

    ``coherence`` on ``(pair, y, x)`` with the cube's pair coordinates, on the
    sample's grid and CRS; pairs chosen by ``select_pairs`` at ``baselines_days``.
    """
    scenes = _items(catalog.items)
    pairs = select_pairs(acquisitions_of(scenes), tuple(baselines_days))
    maps = truth_for_pairs(
        catalog, list(pairs["reference_time"].to_numpy()), list(pairs["secondary_time"].to_numpy())
    )
    if any(m is None for m in maps):
        raise ValueError(f"the sample has no truth for some {list(baselines_days)}-day pairs")
    first = next(i for i in _items(catalog.truth_items) if i.id != "changes")
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
        recession_day: (y, x) days after ``start`` a flood receded (the field's
            second event), -1 where none.
        end: time of the last acquisition.
    """

    day: NDArray[np.int16]
    kind: NDArray[np.uint8]
    start: np.datetime64
    kinds: dict[int, str]
    recession_day: NDArray[np.int16]
    end: np.datetime64


def read_change_truth(catalog: SampleCatalog) -> ChangeTruth:
    """The ``changes`` truth item of a sample catalog."""
    features = json.loads(catalog.truth_items.read_text())["features"]
    item = next(f for f in features if f["id"] == "changes")
    with rasterio.open(item["assets"]["change-day"]["href"]) as src:
        day = src.read(1)
    with rasterio.open(item["assets"]["change-kind"]["href"]) as src:
        kind = src.read(1)
    with rasterio.open(item["assets"]["recession-day"]["href"]) as src:
        recession = src.read(1)
    start = np.datetime64(item["properties"]["start_datetime"].rstrip("Z"), "ns")
    end = np.datetime64(item["properties"]["end_datetime"].rstrip("Z"), "ns")
    kinds = {int(k): v for k, v in item["properties"]["cohcube:change_kinds"].items()}
    return ChangeTruth(day, kind, start, kinds, recession, end)


def sample_spec(catalog: SampleCatalog) -> SampleSpec:
    """The spec a sample catalog was generated from (its manifest)."""
    fields: dict[str, Any] = json.loads(catalog.manifest.read_text())["spec"]
    typed: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    return SampleSpec(**typed)


def true_backscatter(catalog: SampleCatalog) -> xr.DataArray:
    """The simulator's noise-free backscatter of every acquisition: no speckle, no misregistration.

    ``(time, band, y, x)`` linear power, VV and VH, on the sample's grid, times
    those of the acquisitions; drawn again from the catalog's spec (the ground
    is a pure function of it), so the truth collection need not store it.
    """
    spec = sample_spec(catalog)
    scene, _, states, _ = simulate_ground(spec)
    start = np.datetime64(spec.start.rstrip("Z"), "s")
    times = [start + np.timedelta64(round(state.day * 86400), "s") for state in states]
    values = np.stack(
        [
            np.stack([backscatter_map(scene, state.fields, pol) for pol in POLARIZATIONS])
            for state in states
        ]
    ).astype(np.float32)
    left, top = spec.origin
    centres = (np.arange(spec.size_px) + 0.5) * spec.pixel_m
    data = xr.DataArray(
        values,
        dims=("time", "band", "y", "x"),
        coords={
            "time": np.array(times, dtype="datetime64[ns]"),
            "band": list(POLARIZATIONS),
            "y": top - centres,
            "x": left + centres,
        },
    )
    return data.rio.write_crs(f"EPSG:{spec.epsg}")


def truth_for_pairs(
    catalog: SampleCatalog, reference: Sequence[Any], secondary: Sequence[Any]
) -> list[NDArray[np.float32] | None]:
    """True VV coherence of each (reference, secondary) acquisition pair, or None if absent.

    Times are matched to the day (the truth items carry the first slice's time).
    """
    index: dict[tuple[str, str], str] = {}
    for item in json.loads(catalog.truth_items.read_text())["features"]:
        props = item["properties"]
        if "cohcube:reference_datetime" in props:
            key = (
                props["cohcube:reference_datetime"][:10],
                props["cohcube:secondary_datetime"][:10],
            )
            index[key] = item["assets"]["coherence-vv"]["href"]
    out: list[NDArray[np.float32] | None] = []
    for ref, sec in zip(reference, secondary, strict=True):
        href = index.get((str(np.datetime64(ref, "D")), str(np.datetime64(sec, "D"))))
        if href is None:
            out.append(None)
            continue
        with rasterio.open(href) as src:
            raw = src.read(1)
        values = raw.astype(np.float32) * np.float32(TRUTH_SCALE)
        values[raw == TRUTH_NODATA] = np.nan
        out.append(values)
    return out
