"""Map grids: the north-up grid a cube is stacked onto, and its footprint in WGS84."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform_bounds, transform_geom


@dataclass(frozen=True)
class CubeGrid:
    """A north-up output grid.

    Attributes:
        epsg: EPSG code of the CRS.
        resolution: pixel size in CRS units (metres for UTM).
        bounds: ``(left, bottom, right, top)`` in CRS units.
    """

    epsg: int
    resolution: float
    bounds: tuple[float, float, float, float]

    @property
    def shape(self) -> tuple[int, int]:
        left, bottom, right, top = self.bounds
        return (round((top - bottom) / self.resolution), round((right - left) / self.resolution))

    @property
    def transform(self) -> Affine:
        return Affine(self.resolution, 0, self.bounds[0], 0, -self.resolution, self.bounds[3])

    def snapped(self, multiple: int) -> CubeGrid:
        """Grow the bounds outwards so every edge lies on a ``multiple``-pixel lattice.

        Chunks of ``k * multiple`` pixels then start on the same lattice in
        every job, so a U-Net with ``log2(multiple)`` pools sees identical tiles.
        """
        step = self.resolution * multiple
        left, bottom, right, top = self.bounds
        return CubeGrid(
            self.epsg,
            self.resolution,
            (
                math.floor(left / step + 1e-9) * step,
                math.floor(bottom / step + 1e-9) * step,
                math.ceil(right / step - 1e-9) * step,
                math.ceil(top / step - 1e-9) * step,
            ),
        )

    def expanded(self, pixels: int) -> CubeGrid:
        """The grid grown by ``pixels`` on every side (the same lattice when ``pixels`` is a
        multiple of it): a tile's grid plus the ground its edge pixels' context needs."""
        pad = pixels * self.resolution
        left, bottom, right, top = self.bounds
        return CubeGrid(
            self.epsg, self.resolution, (left - pad, bottom - pad, right + pad, top + pad)
        )

    @classmethod
    def from_lonlat_bbox(cls, bbox: Sequence[float], epsg: int, resolution: float) -> CubeGrid:
        """The grid in ``epsg`` covering a WGS84 ``(west, south, east, north)`` box."""
        left, bottom, right, top = transform_bounds("EPSG:4326", f"EPSG:{epsg}", *bbox)
        return cls(epsg, resolution, (left, bottom, right, top))


def safe_chunks(size: int, chunk: int, halo: int, multiple: int) -> tuple[int, ...]:
    """Chunks of ``chunk`` px (a multiple of ``multiple``) with none smaller than the halo.

    dask's ``map_overlap`` misbehaves when a chunk is smaller than the depth
    (dask/dask#6597, #11580): a short last chunk is merged into its neighbour,
    and a chunk size below the halo is raised to it.
    """
    step = max(chunk, math.ceil(max(halo, 1) / multiple) * multiple)
    step = math.ceil(step / multiple) * multiple
    chunks = [step] * (size // step)
    rest = size - sum(chunks)
    if rest:
        if chunks and rest < halo:
            chunks[-1] += rest
        else:
            chunks.append(rest)
    return tuple(chunks) if chunks else (size,)


#: Chunk sizes along y and along x, px.
SpatialChunks = tuple[tuple[int, ...], tuple[int, ...]]


def spatial_chunks(
    shape: tuple[int, int], chunk_px: int, margin_px: int = 0, halo: int = 0, multiple: int = 1
) -> SpatialChunks:
    """Chunks of ``chunk_px`` along y and x of a ``shape`` grid whose outer ``margin_px`` is
    context only: each margin strip is a chunk of its own, so the inner part (the pixels a job
    outputs) starts and ends on chunk boundaries and its chunks match the store's. Inside,
    ``safe_chunks`` with ``halo`` and ``multiple`` (no chunk under a ``map_overlap`` depth)."""

    def along(size: int) -> tuple[int, ...]:
        inner = size - 2 * margin_px
        if inner <= 0:
            raise ValueError(f"a {size} px side has no pixels inside margins of {margin_px} px")
        edge = (margin_px,) if margin_px else ()
        return edge + safe_chunks(inner, chunk_px, halo, multiple) + edge

    return along(shape[0]), along(shape[1])


def footprint(
    crs: CRS, transform: Affine, shape: tuple[int, int], decimals: int | None = None
) -> tuple[dict[str, Any], list[float]]:
    """WGS84 polygon and bbox of the extent of a raster of ``shape`` (rows, cols).

    The bbox follows the extent's edges (densified), which curve in WGS84, so it
    holds the whole raster, not only its corners. ``decimals`` rounds both.
    """
    x0, y0 = transform.c, transform.f
    left, right = sorted((x0, x0 + transform.a * shape[1]))
    bottom, top = sorted((y0, y0 + transform.e * shape[0]))
    ring = [[left, bottom], [right, bottom], [right, top], [left, top], [left, bottom]]
    polygon = {"type": "Polygon", "coordinates": [ring]}
    geometry = transform_geom(
        crs, "EPSG:4326", polygon, precision=-1 if decimals is None else decimals
    )
    bbox = transform_bounds(crs, "EPSG:4326", left, bottom, right, top, densify_pts=21)
    return geometry, [float(v if decimals is None else round(v, decimals)) for v in bbox]


def first_valid(layers: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Mosaic of rasters on one grid: the first finite value of each pixel over ``layers``
    (e.g. the overlapping slices of one pass), shaped like one layer."""
    out = np.array(layers[0], copy=True)
    for layer in layers[1:]:
        gaps = np.isnan(out)
        out[gaps] = layer[gaps]
    return out
