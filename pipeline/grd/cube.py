"""Lazy ``(time, band, y, x)`` sigma0 cubes of Level-1 GRD scenes on a map grid.

Each dask block is one pass (its slices mosaicked) x every band x one
spatial chunk; a block reads from each slice only the radar window under its
chunk, so memory follows the chunk, not the scene. Before any block runs,
every scene's documents are read and checked on the client (a missing asset,
a corrupt XML, a wave-mode product fail here, with one line naming the scene),
and the per-scene quantity and IPF version become coordinates of the cube.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import dask.array as da
import numpy as np
import pystac
import xarray as xr
from affine import Affine
from rasterio.warp import transform_bounds

from cohcube.model.errors import CohcubeError

from ..errors import GridError, NotAnalysisReadyError
from ..grid import CubeGrid, SpatialChunks, first_valid
from ..scene_items import gdal_env_for, pass_coords
from ..tiles import utm_epsg
from .assets import grd_assets, is_grd_item
from .scene import GrdScene
from .terrain import DemSource, geoid_offset_from_gcps

log = logging.getLogger(__name__)

#: The quantity a GRD cube holds (ellipsoid geocoding: no terrain flattening).
GRD_QUANTITY = "sigma0"


def grd_scenes(
    item: pystac.Item,
    bands: Sequence[str],
    gdal_env: dict[str, str],
    thermal_noise: bool = True,
    border_noise: bool = False,
) -> list[GrdScene]:
    """One ``GrdScene`` per band of a GRD item (assets resolved, nothing read yet)."""
    env = tuple(sorted(gdal_env_for(item, gdal_env).items()))
    return [
        GrdScene(item.id, grd_assets(item, band), env, thermal_noise, border_noise)
        for band in bands
    ]


def default_grd_grid(
    scenes: Sequence[pystac.Item], bbox: Sequence[float] | None, resolution: float | None
) -> CubeGrid:
    """The UTM grid (10 m unless told) over ``bbox`` or the scenes' union of footprints.

    GRD items carry no trustworthy ``proj:*``; the zone is that of the area's centre.
    """
    if bbox is None:
        boxes = [i.bbox for i in scenes if i.bbox]
        if not boxes:
            raise GridError("the GRD scenes carry no bbox; pass a bbox or a grid")
        bbox = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    lon = (bbox[0] + bbox[2]) / 2
    lat = (bbox[1] + bbox[3]) / 2
    epsg = utm_epsg(int((lon + 180) // 6) % 60 + 1, north=lat >= 0)
    return CubeGrid.from_lonlat_bbox(bbox, epsg, resolution or 10.0)


def _block(
    passes: list[list[list[GrdScene]]],
    grid: CubeGrid,
    dem: DemSource | None,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    assert block_info is not None
    (t0, _), (b0, b1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
    transform = grid.transform @ Affine.translation(x0, y0)
    shape = (y1 - y0, x1 - x0)
    heights = None if dem is None else dem.heights(transform, shape, grid.epsg)
    out = np.empty((1, b1 - b0, *shape), dtype=np.float32)
    for b in range(b0, b1):
        layers = [s[b].sigma0_on_grid(transform, shape, grid.epsg, heights) for s in passes[t0]]
        out[0, b - b0] = first_valid(layers)
    return out


def _checked(
    passes: list[list[list[GrdScene]]], dem: DemSource | None, geoid_offset_m: float | None
) -> tuple[list[list[list[GrdScene]]], dict[str, str | None]]:
    """Read every scene's documents now (in threads): the scenes with their geoid offsets
    (terrain geocoding), and the IPF version per scene id."""
    scenes = [band for group in passes for item in group for band in item]
    with ThreadPoolExecutor(max_workers=8) as pool:
        metadata = list(pool.map(lambda s: s.metadata(), scenes))
    ipf = {s.scene_id: m.ipf_version for s, m in zip(scenes, metadata, strict=True)}
    if dem is None:
        return passes, ipf
    offsets: dict[str, float] = {}
    for scene, meta in zip(scenes, metadata, strict=True):
        if scene.scene_id not in offsets:
            offsets[scene.scene_id] = (
                geoid_offset_m
                if geoid_offset_m is not None
                else geoid_offset_from_gcps(dem, meta.annotation.gcps)
            )
            log.info("scene %s: DEM heights + %.1f m", scene.scene_id, offsets[scene.scene_id])
    placed = [
        [[replace(band, geoid_offset_m=offsets[band.scene_id]) for band in item] for item in group]
        for group in passes
    ]
    return placed, ipf


def is_grd_stack(scenes: Sequence[pystac.Item]) -> bool:
    """Whether the scenes are GRD (True) or analysis-ready (False); refuse a mix of both."""
    grd = [is_grd_item(i) for i in scenes]
    if any(grd) and not all(grd):
        grd_collections = sorted(
            {str(i.collection_id) for i, g in zip(scenes, grd, strict=True) if g}
        )
        other = sorted({str(i.collection_id) for i, g in zip(scenes, grd, strict=True) if not g})
        raise NotAnalysisReadyError(
            f"the scenes mix Level-1 GRD products (sigma0, from {', '.join(grd_collections)}) "
            f"with analysis-ready backscatter (gamma0, from {', '.join(other)}); one cube holds "
            "one quantity: search one collection"
        )
    return all(grd)


def grd_overlaps(item: pystac.Item, grid: CubeGrid) -> bool:
    """Does a GRD item's footprint bbox intersect the grid (in WGS84)?"""
    if not item.bbox:
        return True
    west, south, east, north = transform_bounds(f"EPSG:{grid.epsg}", "EPSG:4326", *grid.bounds)
    b = item.bbox
    return b[0] < east and b[2] > west and b[1] < north and b[3] > south


def unreadable_grd_scenes(
    items: Sequence[pystac.Item], bands: Sequence[str], workers: int = 8
) -> dict[str, str]:
    """GRD items whose documents cannot be read or used: ``{scene id: reason}``.

    Resolves every band's assets and reads and parses its XMLs (in threads), so
    a job can stop -- or skip the scene -- before anything is computed.
    """

    def problem(item: pystac.Item) -> tuple[str, str | None]:
        try:
            for scene in grd_scenes(item, bands, {}):
                scene.metadata()
        except CohcubeError as error:
            return item.id, str(error)
        return item.id, None

    grd = [i for i in items if is_grd_item(i)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(problem, grd))
    return {scene: reason for scene, reason in found if reason is not None}


def build_grd_cube(
    passes: list[list[pystac.Item]],
    bands: Sequence[str],
    grid: CubeGrid,
    chunks: SpatialChunks,
    gdal_env: dict[str, str],
    thermal_noise: bool = True,
    border_noise: bool = False,
    dem: DemSource | None = None,
    geoid_offset_m: float | None = None,
) -> xr.DataArray:
    """The lazy sigma0 cube of GRD passes (each a list of slices) on ``grid``.

    With ``dem``, pixels are geocoded at the DEM's heights plus ``geoid_offset_m``
    (None: estimated per scene from its GCPs); without, at the processor's
    reference heights (ellipsoid geocoding).

    Returns:
        ``(time, band, y, x)`` float32 DataArray, NaN = no data, chunked
        ``(1, all bands, *chunks)``; per-time coordinates as the RTC
        cube's plus ``quantity`` and ``ipf_version``.
    """
    scenes = [
        [grd_scenes(item, bands, gdal_env, thermal_noise, border_noise) for item in group]
        for group in passes
    ]
    scenes, ipf = _checked(scenes, dem, geoid_offset_m)
    ny, nx = grid.shape
    chunks = da.core.normalize_chunks((1, len(bands), *chunks), (len(passes), len(bands), ny, nx))
    data = da.map_blocks(
        _block,
        scenes,
        grid,
        dem,
        chunks=chunks,
        dtype=np.float32,
        meta=np.empty((0,) * 4, np.float32),
    )
    left, _, _, top = grid.bounds
    res = grid.resolution
    return xr.DataArray(
        data,
        dims=("time", "band", "y", "x"),
        coords={
            **pass_coords(passes),
            "band": [b.upper() for b in bands],
            "y": top - res * (np.arange(ny) + 0.5),
            "x": left + res * (np.arange(nx) + 0.5),
            "quantity": ("time", [GRD_QUANTITY] * len(passes)),
            "ipf_version": (
                "time",
                [",".join(sorted({ipf[i.id] or "?" for i in g})) for g in passes],
            ),
        },
    )
