"""`cohcube changes`: change events of a coherence cube or of every tile of a tile set."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from rasterio.warp import transform_bounds
from shapely.geometry import box, mapping

from cohcube.model.errors import InputDataError, MissingPathError, OccupiedPathError
from cohcube.pipeline.changes import History, detect_changes
from cohcube.pipeline.grid import CubeGrid
from cohcube.pipeline.search import SceneQuery, search_scenes
from cohcube.pipeline.store.tile_set import open_tile, require_tile_set, tile_ids
from cohcube.pipeline.store.zarr_cube import is_coherence_cube, open_coherence_cube

from .job_config import ProcessConfig, asset_signer, bearer_headers
from .job_steps import stack_backscatter

log = logging.getLogger(__name__)

SUFFIXES = (".zarr", ".tif", ".tiff")


#: The GeoTIFF's bands (the first event of each pixel), in order, as their descriptions say.
GEOTIFF_BANDS = (
    "change_count",
    "event_start_days",
    "event_end_days",
    "event_peak_start_days",
    "event_peak_end_days",
    "event_kind",
    "event_evidence",
    "event_score",
    "event_coherence_drop",
    "event_vv_db",
    "event_vh_db",
)


def _make_room(out: Path, overwrite: bool) -> None:
    """Refuse an existing ``out``, or remove a previous change layer there when ``overwrite``."""
    if not out.exists():
        return
    if not overwrite:
        raise OccupiedPathError(f"{out} exists; choose a new output path or give --overwrite")
    if out.is_dir():
        if not (out / "zarr.json").exists():
            raise OccupiedPathError(f"{out} is a folder but not a Zarr store; not overwriting it")
        shutil.rmtree(out)
    else:
        out.unlink()


def write_change_layer(changes: xr.Dataset, out: Path, overwrite: bool = False) -> None:
    """Write a ``detect_changes`` result as Zarr (all variables) or a multi-band GeoTIFF.

    The GeoTIFF bands (``GEOTIFF_BANDS``, also their descriptions) describe each
    pixel's first event (the Zarr store holds all of them): the number of events,
    start and end of its span and of its peak interval in days since 1970-01-01
    (NaN without event), kind and evidence
    codes (0 without event), score, coherence drop, VV and VH steps in dB.
    """
    _make_room(out, overwrite)
    if out.suffix == ".zarr":
        changes.to_zarr(out, mode="w-", consolidated=False)
        return
    epoch = np.datetime64("1970-01-01", "ns")
    first = changes.isel(event=0, drop=True)
    bands = [changes["change_count"].astype(np.float32)]
    for name in ("event_start", "event_end", "event_peak_start", "event_peak_end"):
        days = (first[name] - epoch) / np.timedelta64(1, "D")
        bands.append(days.astype(np.float32))
    bands += [first[name].astype(np.float32) for name in GEOTIFF_BANDS[5:]]
    stacked = xr.concat(bands, dim="band").assign_coords(band=list(GEOTIFF_BANDS))
    stacked = stacked.rio.write_crs(changes.rio.crs).rio.write_nodata(np.nan)
    stacked.attrs = {}  # the first band's attributes would describe every band
    stacked.rio.to_raster(out, compress="deflate", tiled=True)
    with rasterio.open(out, "r+") as dataset:
        for index, name in enumerate(GEOTIFF_BANDS, start=1):
            dataset.set_band_description(index, name)


def cube_grid(cube: xr.Dataset) -> CubeGrid:
    """The grid of a coherence cube (north-up, square pixels), from its coordinates and CRS."""
    x, y = cube["x"].values, cube["y"].values
    resolution = float(abs(x[1] - x[0])) if len(x) > 1 else float(abs(y[1] - y[0]))
    half = resolution / 2
    bounds = (float(x[0] - half), float(y[-1] - half), float(x[-1] + half), float(y[0] + half))
    return CubeGrid(int(cube.rio.crs.to_epsg()), resolution, bounds)


def backscatter_of(cube: xr.Dataset, config: ProcessConfig) -> xr.DataArray:
    """The VV/VH backscatter a cube's coherence came from, stacked again from the job's catalog.

    The search is the job's (collection, orbit filters, catalog token) over the
    cube's grid and the span of its pairs' acquisitions; scenes are read as the
    job reads them (GRD calibration and geocoding per its ``grd`` section), lazily.
    """
    grid = cube_grid(cube)
    west, south, east, north = transform_bounds(f"EPSG:{grid.epsg}", "EPSG:4326", *grid.bounds)
    first = pd.Timestamp(cube["reference_time"].values.min()) - pd.Timedelta(minutes=5)
    last = pd.Timestamp(cube["secondary_time"].values.max()) + pd.Timedelta(minutes=5)
    query = SceneQuery(
        collection=config.collection,
        intersects=mapping(box(west, south, east, north)),
        datetime=f"{first:%Y-%m-%dT%H:%M:%SZ}/{last:%Y-%m-%dT%H:%M:%SZ}",
        polarizations=("VV", "VH"),
        orbit_state=config.orbit_state,
        relative_orbits=tuple(config.relative_orbits),
    )
    scenes = search_scenes(config.catalog, query, headers=bearer_headers(config.catalog_token_env))
    signer = asset_signer(config.sign_assets)
    if signer is not None:
        scenes = [signer(item) for item in scenes]
    log.info("backscatter evidence: %d scenes from %s", len(scenes), config.catalog)
    return stack_backscatter(
        scenes,
        ("vv", "vh"),
        size_multiple=1,
        chunk_px=1024,
        grid=grid,
        grd=config.grd,
        catalog=config.catalog,
    )


def run_changes(
    store: str,
    out: Path,
    *,
    tiles: list[str] | None = None,
    history: str = "all",
    z_threshold: float = 5.0,
    smooth_px: int = 5,
    overwrite: bool = False,
    config: ProcessConfig | None = None,
) -> dict[Path, float]:
    """Detect changes in a cube (or each selected tile of a tile set) and write the layers.

    With the job ``config`` the cube was processed with, each cube's backscatter
    (searched and stacked again from the job's catalog) is evidence beside its
    coherence; without it, coherence loss is the only evidence.

    Returns:
        Output path -> share of valid pixels flagged.
    """
    if out.suffix not in SUFFIXES:
        raise InputDataError(f"--out {out}: use a .zarr or .tif path")
    if history not in get_args(History):
        raise InputDataError(f"--history {history!r}: use 'all' or 'past'")
    if "://" not in store and not Path(store).exists():
        raise MissingPathError(
            f"{store} does not exist; give a coherence cube or a tile set written by cohcube"
        )
    if is_coherence_cube(store):
        cubes = {out: open_coherence_cube(store)}
    else:
        require_tile_set(store)
        held = tile_ids(store)
        chosen = tiles or held
        unknown = sorted(set(chosen) - set(held))
        if unknown:
            raise InputDataError(f"--tile {unknown}: not in {store} (it holds {held})")
        cubes = {out.with_name(f"{out.stem}_{t}{out.suffix}"): open_tile(store, t) for t in chosen}
    shares: dict[Path, float] = {}
    for path, cube in cubes.items():
        backscatter = backscatter_of(cube, config) if config is not None else None
        changes = detect_changes(
            cube,
            backscatter,
            history=history,  # type: ignore[arg-type]
            z_threshold=z_threshold,
            smooth_px=smooth_px,
        ).compute()
        write_change_layer(changes, path, overwrite)
        valid = np.isfinite(cube["coherence"].isel(pair=-1).values)
        shares[path] = float(changes["change"].values[valid].mean()) if valid.any() else 0.0
        log.info("wrote %s", path)
    return shares
