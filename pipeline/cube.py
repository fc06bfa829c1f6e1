"""Lazy Sentinel-1 backscatter cubes on one map grid (stackstac).

``build_cube`` refuses scenes that are not analysis-ready, normalises STAC
projection v2 items for stackstac, stacks the scenes onto a grid snapped to
the model's size multiple, converts dB collections to linear power, and
mosaics the slices of one pass into one time step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pystac
import rioxarray  # noqa: F401  (registers the .rio accessor)
import stackstac
import xarray as xr
from rasterio.warp import transform_bounds

from cohcube.model.physics.radiometry import db_to_linear

from .asset_reader import RetryingRioReader
from .errors import GridError, NotAnalysisReadyError
from .grd.cube import GRD_QUANTITY, build_grd_cube, default_grd_grid, grd_overlaps, is_grd_stack
from .grd.terrain import DemSource
from .grid import CubeGrid, SpatialChunks, first_valid, spatial_chunks
from .scene_items import item_epsg, item_time, native_bounds, pass_coords, pass_key

log = logging.getLogger(__name__)

ANALYSIS_READY_HINT = (
    "use an analysis-ready collection of calibrated backscatter on a map grid, such as "
    "Planetary Computer 'sentinel-1-rtc' (or an RTC product of ASF/CDSE)"
)
INTEGER_TYPES = {"uint8", "int8", "uint16", "int16", "uint32", "int32"}
#: GDAL's own HTTP retries (429/5xx answers, with back-off) and timeouts for asset reads.
GDAL_HTTP_SETTINGS = {
    "GDAL_HTTP_MAX_RETRY": "5",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    "GDAL_HTTP_TIMEOUT": "10",
    "GDAL_HTTP_CONNECTTIMEOUT": "5",
    # GDAL remembers a failed request as "file does not exist" for the life of
    # the process; not caching /vsicurl/ file state lets a retry really retry.
    "CPL_VSIL_CURL_NON_CACHED": "/vsicurl/",
}


def _has_grid(item: pystac.Item, band: str) -> bool:
    sources = [item.properties, item.assets[band].extra_fields]
    return any(("proj:transform" in s or "proj:bbox" in s) for s in sources) and (
        item_epsg(item) is not None
    )


def require_analysis_ready(scenes: Sequence[pystac.Item], bands: Sequence[str]) -> None:
    """Refuse scenes the cube must not stack, with the reason and the fix.

    - a requested band (polarisation asset) is missing;
    - GCP-georeferenced GRD scenes: no projection fields, or integer digital
      numbers (amplitude DNs, not calibrated backscatter) -- stacking them
      would place pixels with a made-up transform.
    """
    for item in scenes:
        missing = [b for b in bands if b not in item.assets]
        if missing:
            raise NotAnalysisReadyError(
                f"scene {item.id} has no asset for polarisation(s) {missing} (assets: "
                f"{sorted(item.assets)}); search with polarizations that the collection carries"
            )
        for band in bands:
            raster = item.assets[band].extra_fields.get("raster:bands") or [{}]
            dtype = str(raster[0].get("data_type", "")).lower()
            digital_numbers = dtype in INTEGER_TYPES and "scale" not in raster[0]
            if not _has_grid(item, band) or digital_numbers:
                why = (
                    f"its '{band}' asset holds {dtype} digital numbers, not calibrated backscatter"
                    if digital_numbers
                    else "it has no projection (proj:*) "
                    "fields: it is georeferenced by ground control points only"
                )
                raise NotAnalysisReadyError(
                    f"scene {item.id} ({item.collection_id or 'no collection'}) is a Level-1 "
                    f"GRD-style product: {why}; stacking it would misplace pixels. "
                    f"{ANALYSIS_READY_HINT[0].upper()}{ANALYSIS_READY_HINT[1:]}"
                )


def _normalised(item: pystac.Item) -> pystac.Item:
    """A copy stackstac can read: ``proj:code`` mirrored into ``proj:epsg``."""
    copy = item.clone()
    epsg = item_epsg(copy)
    if epsg is not None:
        copy.properties["proj:epsg"] = epsg
        for asset in copy.assets.values():
            if "proj:code" in asset.extra_fields:
                asset.extra_fields["proj:epsg"] = epsg
    return copy


def _default_grid(
    scenes: Sequence[pystac.Item], bbox: Sequence[float] | None, resolution: float | None
) -> CubeGrid:
    epsgs: dict[int, int] = {}
    for item in scenes:
        code = item_epsg(item)
        assert code is not None
        epsgs[code] = epsgs.get(code, 0) + 1
    if len(epsgs) > 1:
        listed = ", ".join(
            f"EPSG:{k} ({v} scene{'s' if v > 1 else ''})" for k, v in sorted(epsgs.items())
        )
        raise GridError(
            f"the scenes are in different CRSs: {listed}; pass grid=CubeGrid(epsg=..., "
            "resolution=..., bounds=...) (CLI: output_grid) to reproject them onto one grid"
        )
    epsg = next(iter(epsgs))
    if resolution is None:
        sizes = [
            abs(float(i.properties["proj:transform"][0]))
            for i in scenes
            if "proj:transform" in i.properties
        ]
        resolution = min(sizes) if sizes else 10.0
    if bbox is not None:
        return CubeGrid.from_lonlat_bbox(bbox, epsg, resolution)
    boxes = [b for b in (native_bounds(i) for i in scenes) if b is not None]
    if not boxes:
        raise GridError(
            "the scenes carry neither proj:bbox nor proj:transform + proj:shape; "
            "pass a grid or a bbox"
        )
    return CubeGrid(
        epsg,
        resolution,
        (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        ),
    )


def _first_valid(block: np.ndarray) -> np.ndarray:
    """Mosaic along axis 0 (the slices of one pass), ``(1, ...)``."""
    return first_valid(block)[None]


def _overlaps(item: pystac.Item, grid: CubeGrid) -> bool:
    """Does the scene's raster extent intersect the grid (stackstac drops those that don't)?"""
    bounds = native_bounds(item)
    epsg = item_epsg(item)
    if bounds is None or epsg is None:
        return True
    if epsg != grid.epsg:
        bounds = transform_bounds(f"EPSG:{epsg}", f"EPSG:{grid.epsg}", *bounds)
    left, bottom, right, top = grid.bounds
    return bounds[0] < right and bounds[2] > left and bounds[1] < top and bounds[3] > bottom


def _calibrated(
    stacked: xr.DataArray, items: Sequence[pystac.Item], bands: Sequence[str]
) -> xr.DataArray:
    """Mask raster-extension nodata (the GeoTIFF may not declare it), apply scale/offset,
    then dB -> linear power where declared."""
    scale = np.ones((len(items), len(bands)), dtype=np.float32)
    offset = np.zeros_like(scale)
    nodata = np.full(scale.shape, np.nan, dtype=np.float32)
    in_db = np.zeros(scale.shape, dtype=bool)
    for t, item in enumerate(items):
        for b, band in enumerate(bands):
            raster = (item.assets[band].extra_fields.get("raster:bands") or [{}])[0]
            scale[t, b] = float(raster.get("scale", 1.0))
            offset[t, b] = float(raster.get("offset", 0.0))
            nodata[t, b] = float(raster.get("nodata", np.nan))
            in_db[t, b] = str(raster.get("unit", "")).lower() in ("db", "decibel", "decibels")
    if np.isfinite(nodata).any():
        stacked = stacked.where(stacked != xr.DataArray(nodata, dims=("time", "band")))
    if (scale != 1).any() or (offset != 0).any():
        stacked = stacked * xr.DataArray(scale, dims=("time", "band")) + xr.DataArray(
            offset, dims=("time", "band")
        )
    if in_db.any():
        mask = xr.DataArray(in_db, dims=("time", "band"))
        linear = xr.apply_ufunc(
            db_to_linear,
            stacked,
            kwargs={"dtype": np.float32},
            dask="parallelized",
            output_dtypes=[np.float32],
        )
        stacked = stacked.where(~mask, linear)
    return stacked.astype(np.float32)


def _mosaic_of_passes(
    passes: list[list[pystac.Item]], bands: Sequence[str], grid: CubeGrid, chunks: SpatialChunks
) -> xr.DataArray:
    """The passes' slices stacked (stackstac), calibrated, each pass mosaicked into one step."""
    items = [item for group in passes for item in group]
    stacked = stackstac.stack(
        items,
        assets=list(bands),
        epsg=grid.epsg,
        resolution=grid.resolution,
        bounds=grid.bounds,
        snap_bounds=False,
        # Slices of one pass share a time chunk; both bands share one chunk.
        chunksize=(tuple(len(g) for g in passes), -1, *chunks),
        dtype=np.dtype("float32"),
        # stackstac cannot rescale into float32; scale/offset are applied below.
        fill_value=np.float32(np.nan),
        rescale=False,
        xy_coords="center",
        properties=False,
        band_coords=False,
        sortby_date=False,
        errors_as_nodata=(),
        gdal_env=stackstac.DEFAULT_GDAL_ENV.updated(always=GDAL_HTTP_SETTINGS),
        reader=RetryingRioReader,
    )
    stacked = _calibrated(stacked, items, bands)
    # One time chunk per pass: a single blockwise step mosaics its slices.
    data = stacked.data
    mosaic = data.map_blocks(
        _first_valid, chunks=((1,) * len(passes), *data.chunks[1:]), dtype=np.float32
    )
    return xr.DataArray(
        mosaic,
        dims=("time", "band", "y", "x"),
        coords={
            **pass_coords(passes),
            "band": [b.upper() for b in bands],
            "y": stacked["y"].values,
            "x": stacked["x"].values,
        },
    )


def _stacked(
    scenes: Sequence[pystac.Item],
    bands: Sequence[str],
    grid: CubeGrid | None,
    bbox: Sequence[float] | None,
    resolution: float | None,
    size_multiple: int,
    chunk_px: int,
    margin_px: int,
    grd: bool,
    **grd_options: Any,
) -> tuple[xr.DataArray, CubeGrid, int]:
    """The lazy cube of the scenes overlapping the (snapped) grid, one step per pass.

    Returns:
        ``(cube, grid, number of scenes used)``.
    """
    if grd:
        grid = (grid or default_grd_grid(scenes, bbox, resolution)).snapped(size_multiple)
        overlapping = sorted((i for i in scenes if grd_overlaps(i, grid)), key=item_time)
    else:
        require_analysis_ready(scenes, bands)
        grid = (grid or _default_grid(scenes, bbox, resolution)).snapped(size_multiple)
        overlapping = sorted((_normalised(i) for i in scenes if _overlaps(i, grid)), key=item_time)
    if not overlapping:
        raise GridError(
            f"none of the {len(scenes)} scenes overlaps the output grid {list(grid.bounds)} "
            f"(EPSG:{grid.epsg}); check the bbox/grid against the scenes' footprints"
        )
    grouped: dict[tuple[Any, ...], list[pystac.Item]] = {}
    for item in overlapping:
        grouped.setdefault(pass_key(item), []).append(item)
    passes = list(grouped.values())  # in time order of each pass's first slice
    chunks = spatial_chunks(grid.shape, chunk_px, margin_px)
    if grd:
        cube = build_grd_cube(passes, bands, grid, chunks, GDAL_HTTP_SETTINGS, **grd_options)
    else:
        cube = _mosaic_of_passes(passes, bands, grid, chunks)
    return cube, grid, len(overlapping)


def _described(
    cube: xr.DataArray, grid: CubeGrid, grd: bool, dem: DemSource | None
) -> xr.DataArray:
    """The cube named, with its attributes (quantity and geocoding for GRD) and CRS."""
    cube.name = "backscatter"
    cube.attrs = {
        "long_name": f"backscatter {GRD_QUANTITY + ' ' if grd else ''}(linear power)",
        "units": "1",
        "grid_epsg": grid.epsg,
        "grid_resolution": grid.resolution,
        "grid_bounds": list(grid.bounds),
    }
    if grd:
        cube.attrs["quantity"] = GRD_QUANTITY
        cube.attrs["geocoding"] = (
            f"terrain heights from {dem.description}, GCP thin-plate spline + foreshortening"
            if dem is not None
            else "ellipsoid (the processor's reference heights), GCP thin-plate spline"
        )
    return cube.rio.write_crs(f"EPSG:{grid.epsg}")


def build_cube(
    scenes: Sequence[pystac.Item],
    bands: Sequence[str] = ("vv", "vh"),
    *,
    grid: CubeGrid | None = None,
    bbox: Sequence[float] | None = None,
    resolution: float | None = None,
    size_multiple: int = 16,
    chunk_px: int = 1024,
    margin_px: int = 0,
    thermal_noise: bool = True,
    border_noise: bool = False,
    dem: DemSource | None = None,
    geoid_offset_m: float | None = None,
) -> xr.DataArray:
    """Stack scenes into a lazy ``(time, band, y, x)`` float32 cube of linear backscatter.

    Analysis-ready scenes (calibrated, on a map grid) are stacked by
    stackstac; Level-1 GRD scenes (DNs in radar geometry) are calibrated to
    sigma0 and geocoded from their GCPs by ``cohcube.pipeline.grd``.

    Args:
        scenes: STAC items (e.g. from ``search_scenes``), all GRD or all analysis-ready.
        bands: asset keys to stack, e.g. ``("vv", "vh")``.
        grid: output grid; default: the scenes' common CRS and resolution over
            ``bbox`` (WGS84) or their union (GRD: the UTM zone of the area, 10 m).
        bbox: WGS84 area when no grid is given.
        resolution: pixel size when no grid is given (default: the scenes').
        size_multiple: grid edges and chunks snap to this many pixels (2**depth).
        chunk_px: spatial chunk size, a multiple of ``size_multiple``.
        margin_px: the grid's outer ring of this width is context for the pixels inside
            (a tile's neighbouring ground): its strips are chunks of their own, so the
            inner part's chunks start on its origin; a multiple of ``size_multiple``.
        thermal_noise: GRD only: remove the thermal noise (default True).
        border_noise: GRD only: mask the border noise of IPF < 2.9 products.
        dem: GRD only: geocode at these terrain heights (``grd.terrain.find_dem``);
            default: the processor's reference heights (ellipsoid geocoding).
        geoid_offset_m: GRD with ``dem``: metres added to DEM heights to make them
            ellipsoidal; None: estimated per scene from its GCPs.

    Returns:
        Dask-backed DataArray; NaN = no data; per-time coordinates
        ``relative_orbit``, ``orbit_state``, ``platform``, ``scene_ids`` (GRD
        also ``quantity``, ``ipf_version``); CRS written through rioxarray.
    """
    if not scenes:
        raise GridError("no scenes to stack")
    for name, value in (("chunk_px", chunk_px), ("margin_px", margin_px)):
        if value % size_multiple:
            raise GridError(f"{name} {value} must be a multiple of size_multiple {size_multiple}")
    grd = is_grd_stack(scenes)
    cube, grid, count = _stacked(
        scenes,
        bands,
        grid,
        bbox,
        resolution,
        size_multiple,
        chunk_px,
        margin_px,
        grd,
        thermal_noise=thermal_noise,
        border_noise=border_noise,
        dem=dem,
        geoid_offset_m=geoid_offset_m,
    )
    cube = _described(cube, grid, grd, dem)
    log.info(
        "cube %s from %d %sscenes: %d time steps on EPSG:%d",
        dict(cube.sizes),
        count,
        "GRD " if grd else "",
        cube.sizes["time"],
        grid.epsg,
    )
    return cube
