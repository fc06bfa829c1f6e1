"""A fixed tile grid for continental areas: square UTM tiles, one zone per tile.

Every tile is a square of ``tile_px`` pixels on a lattice anchored at the
zone's origin (easting/northing multiples of the tile size), so the same
ground always falls in the same tile whatever region a job asks for, and a
tile never mixes CRSs. A region is split at the UTM zone boundaries (6°
strips, north/south at the equator); each part lists the lattice cells it
touches. As with MGRS, tiles of neighbouring zones overlap a little along
the zone boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer
from shapely import box, segmentize, transform
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from .errors import GridError
from .grid import CubeGrid


@dataclass(frozen=True)
class TileGrid:
    """The lattice: ``tile_px`` pixels of ``resolution_m`` metres per tile side."""

    tile_px: int = 2048
    resolution_m: float = 10.0

    @property
    def tile_m(self) -> float:
        return self.tile_px * self.resolution_m


@dataclass(frozen=True)
class Tile:
    """One tile of the grid.

    Attributes:
        id: ``<zone><N|S>_<column>_<row>``, e.g. ``33N_0029_0253`` (column and
            row are the lattice indices of the lower-left corner).
        grid: the tile's map grid (UTM CRS, resolution, bounds in metres).
        footprint: the tile's outline in WGS84 as a GeoJSON geometry.
    """

    id: str
    grid: CubeGrid
    footprint: dict[str, Any]


def reprojected(geometry: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    """``geometry`` with every vertex transformed by ``transformer`` (densify first)."""

    def points(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return transform(geometry, points)


def utm_epsg(zone: int, north: bool) -> int:
    """EPSG code of UTM ``zone`` (1-60) on WGS84, northern or southern hemisphere."""
    return (32600 if north else 32700) + zone


def _zone_parts(region: BaseGeometry) -> list[tuple[int, bool, BaseGeometry]]:
    west, south, east, north = region.bounds
    parts = []
    first = max(1, math.floor((west + 180) / 6) + 1)
    last = min(60, math.floor((east + 180) / 6) + 1)
    for zone in range(first, last + 1):
        strip_west = -180 + 6 * (zone - 1)
        for hemisphere_north, (lat0, lat1) in ((True, (0.0, 84.0)), (False, (-80.0, 0.0))):
            if north <= lat0 or south >= lat1:
                continue
            part = region.intersection(box(strip_west, lat0, strip_west + 6, lat1))
            if not part.is_empty and part.area > 0:
                parts.append((zone, hemisphere_north, part))
    return parts


def tiles_for_region(
    region: dict[str, Any] | BaseGeometry, tiles: TileGrid | None = None
) -> list[Tile]:
    """The tiles that cover a WGS84 region (GeoJSON geometry or shapely), in id order.

    Raises:
        GridError: the region is empty or outside the UTM latitudes (80°S-84°N).
    """
    tiles = tiles or TileGrid()
    geometry = region if isinstance(region, BaseGeometry) else shape(region)
    if geometry.is_empty or geometry.area <= 0:
        raise GridError("the region is empty: give a bbox or a polygon with an area")
    parts = _zone_parts(geometry)
    if not parts:
        raise GridError(
            f"the region {list(geometry.bounds)} lies outside the UTM latitudes 80°S-84°N"
        )
    step = tiles.tile_m
    found: dict[str, Tile] = {}
    for zone, north, part in parts:
        epsg = utm_epsg(zone, north)
        to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
        to_lonlat = Transformer.from_crs(epsg, 4326, always_xy=True)
        projected = reprojected(segmentize(part, 0.05), to_utm)
        left, bottom, right, top = projected.bounds
        for column in range(math.floor(left / step), math.ceil(right / step)):
            for row in range(math.floor(bottom / step), math.ceil(top / step)):
                cell = box(column * step, row * step, (column + 1) * step, (row + 1) * step)
                if not cell.intersects(projected) or cell.intersection(projected).area <= 0:
                    continue
                tile_id = f"{zone:02d}{'N' if north else 'S'}_{column:04d}_{row:04d}"
                footprint = reprojected(segmentize(cell, step / 16), to_lonlat)
                found[tile_id] = Tile(
                    id=tile_id,
                    grid=CubeGrid(epsg, tiles.resolution_m, cell.bounds),
                    footprint=mapping(footprint),
                )
    return [found[key] for key in sorted(found)]
