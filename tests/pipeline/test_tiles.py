"""The fixed UTM tile grid: one zone per tile, lattice-aligned, independent of the region asked."""

from __future__ import annotations

import pytest
from shapely.geometry import box, shape

from cohcube.pipeline.errors import GridError
from cohcube.pipeline.tiles import TileGrid, tiles_for_region, utm_epsg

GRID = TileGrid(tile_px=1024, resolution_m=10.0)


def test_tiles_sit_on_the_lattice_of_their_zone() -> None:
    tiles = tiles_for_region(box(16.30, 46.75, 16.60, 46.95), GRID)
    assert tiles
    for tile in tiles:
        assert tile.grid.epsg == 32633
        assert tile.grid.shape == (1024, 1024)
        left, bottom, right, _ = tile.grid.bounds
        assert left % GRID.tile_m == 0
        assert bottom % GRID.tile_m == 0
        assert right - left == GRID.tile_m
        zone, column, row = tile.id.split("_")
        assert zone == "33N"
        assert (int(column), int(row)) == (left // GRID.tile_m, bottom // GRID.tile_m)
    # Together the tiles cover the region.
    union = shape(tiles[0].footprint)
    for tile in tiles[1:]:
        union = union.union(shape(tile.footprint))
    assert union.contains(box(16.30, 46.75, 16.60, 46.95))


def test_the_same_ground_gets_the_same_tile_whatever_the_region() -> None:
    small = {t.id: t for t in tiles_for_region(box(16.40, 46.80, 16.41, 46.81), GRID)}
    large = {t.id: t for t in tiles_for_region(box(16.0, 46.5, 17.0, 47.0), GRID)}
    assert set(small) <= set(large)
    for tile_id, tile in small.items():
        assert large[tile_id].grid == tile.grid


def test_regions_across_a_zone_boundary_and_the_equator_split() -> None:
    tiles = tiles_for_region(box(17.9, -0.1, 18.1, 0.1), GRID)
    epsgs = {t.grid.epsg for t in tiles}
    assert epsgs == {
        utm_epsg(33, True),
        utm_epsg(34, True),
        utm_epsg(33, False),
        utm_epsg(34, False),
    }
    assert all(t.id[:3] in {"33N", "34N", "33S", "34S"} for t in tiles)


def test_bad_regions_are_refused() -> None:
    with pytest.raises(GridError, match="empty"):
        tiles_for_region(box(10, 10, 10, 11), GRID)
    with pytest.raises(GridError, match="UTM latitudes"):
        tiles_for_region(box(10, 85, 11, 86), GRID)
