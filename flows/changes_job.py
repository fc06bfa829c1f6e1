"""`cohcube changes`: change layers for a coherence cube or every tile of a tile set."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import get_args

import numpy as np
import rasterio
import xarray as xr

from cohcube.model.errors import InputDataError, MissingPathError, OccupiedPathError
from cohcube.pipeline.changes import History, detect_changes
from cohcube.pipeline.store.tile_set import open_tile, require_tile_set, tile_ids
from cohcube.pipeline.store.zarr_cube import is_coherence_cube, open_coherence_cube

log = logging.getLogger(__name__)

SUFFIXES = (".zarr", ".tif", ".tiff")


#: The GeoTIFF's bands, in order, as their descriptions say.
GEOTIFF_BANDS = ("change_start_days", "change_end_days", "change_magnitude", "change_zscore")


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

    The GeoTIFF bands (``GEOTIFF_BANDS``, also their descriptions) are: change
    start and end in days since 1970-01-01 (NaN without event), magnitude, z-score.
    """
    _make_room(out, overwrite)
    if out.suffix == ".zarr":
        changes.to_zarr(out, mode="w-", consolidated=False)
        return
    epoch = np.datetime64("1970-01-01", "ns")
    bands = []
    for name in ("change_start", "change_end"):
        days = (changes[name] - epoch) / np.timedelta64(1, "D")
        bands.append(days.astype(np.float32).rename(f"{name}_days"))
    bands += [changes["change_magnitude"], changes["change_zscore"]]
    stacked = xr.concat(bands, dim="band").assign_coords(band=list(GEOTIFF_BANDS))
    stacked = stacked.rio.write_crs(changes.rio.crs).rio.write_nodata(np.nan)
    stacked.attrs = {}  # the first band's attributes would describe every band
    stacked.rio.to_raster(out, compress="deflate", tiled=True)
    with rasterio.open(out, "r+") as dataset:
        for index, name in enumerate(GEOTIFF_BANDS, start=1):
            dataset.set_band_description(index, name)


def run_changes(
    store: str,
    out: Path,
    *,
    tiles: list[str] | None = None,
    history: str = "all",
    z_threshold: float = 3.0,
    min_drop: float = 0.15,
    smooth_px: int = 5,
    overwrite: bool = False,
) -> dict[Path, float]:
    """Detect changes in a cube (or each selected tile of a tile set) and write the layers.

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
        changes = detect_changes(
            cube,
            history=history,  # type: ignore[arg-type]
            z_threshold=z_threshold,
            min_drop=min_drop,
            smooth_px=smooth_px,
        ).compute()
        write_change_layer(changes, path, overwrite)
        valid = np.isfinite(cube["coherence"].isel(pair=-1).values)
        shares[path] = float(changes["change"].values[valid].mean()) if valid.any() else 0.0
        log.info("wrote %s", path)
    return shares
