"""Which scenes each tile reads: the passes over its own ground, and their slices over its margin.

A tile's cube covers the tile plus a margin of the model's halo on every side,
so the pixels at the tile's edge see the same ground as whole-area inference
(seam-free across tiles). The margin is filled from the *same passes* as the
tile: the neighbouring slices of a pass that crosses the tile are read, but a
pass that only touches the margin adds no acquisition (it would give the tile
pairs without a valid pixel). Footprints are indexed once (a shapely STRtree),
so assigning scenes to thousands of tiles is a tree query per tile, not a scan
of every scene.
"""

from __future__ import annotations

from collections.abc import Sequence

import pystac
from pyproj import Transformer
from shapely import STRtree, box, segmentize
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from .scene_items import pass_key
from .tiles import Tile, reprojected


def context_footprint(tile: Tile, margin_px: int) -> BaseGeometry:
    """WGS84 outline of ``tile`` grown by ``margin_px`` pixels on every side (edges densified)."""
    grid = tile.grid.expanded(margin_px)
    cell = segmentize(box(*grid.bounds), (grid.bounds[2] - grid.bounds[0]) / 16)
    return reprojected(cell, Transformer.from_crs(grid.epsg, 4326, always_xy=True))


class SceneIndex:
    """The scenes of a search with their footprints in a spatial index.

    Args:
        scenes: STAC items; those without a geometry are never assigned to a tile.
    """

    def __init__(self, scenes: Sequence[pystac.Item]) -> None:
        self._scenes = [s for s in scenes if s.geometry]
        self._tree = STRtree([shape(s.geometry or {}) for s in self._scenes])

    def __len__(self) -> int:
        return len(self._scenes)

    def intersecting(self, area: BaseGeometry) -> list[pystac.Item]:
        """The scenes whose footprints intersect ``area`` (WGS84), in search order."""
        found = self._tree.query(area, predicate="intersects")
        return [self._scenes[i] for i in sorted(found)]

    def of_tile(self, tile: Tile, margin_px: int = 0) -> tuple[list[pystac.Item], int]:
        """The scenes ``tile``'s cube stacks, and how many of them cross the tile itself.

        Returns:
            ``(scenes, own)``: every slice over the tile or its margin of a pass that
            crosses the tile (search order); ``own`` of them cross the tile.
        """
        own = self.intersecting(shape(tile.footprint))
        if not margin_px or not own:
            return own, len(own)
        passes = {pass_key(s) for s in own}
        around = self.intersecting(context_footprint(tile, margin_px))
        return [s for s in around if pass_key(s) in passes], len(own)
