"""Map grids and their chunk layouts."""

from __future__ import annotations

import pytest

from cohcube.pipeline.grid import CubeGrid, safe_chunks, spatial_chunks


def test_safe_chunks() -> None:
    assert safe_chunks(512, 96, 48, 16) == (96, 96, 96, 96, 128)
    assert safe_chunks(512, 128, 64, 16) == (128, 128, 128, 128)
    assert safe_chunks(100, 16, 32, 16) == (32, 32, 36)
    assert safe_chunks(20, 64, 32, 16) == (20,)


def test_spatial_chunks_put_the_margin_in_chunks_of_its_own() -> None:
    assert spatial_chunks((512, 300), 256) == ((256, 256), (256, 44))
    assert spatial_chunks((704, 448), 256, margin_px=96) == ((96, 256, 256, 96), (96, 256, 96))
    with pytest.raises(ValueError, match="no pixels inside margins of 96 px"):
        spatial_chunks((192, 400), 256, margin_px=96)


def test_an_expanded_grid_keeps_the_lattice() -> None:
    grid = CubeGrid(32633, 10.0, (5120.0, 10240.0, 10240.0, 15360.0))
    wide = grid.expanded(96)
    assert wide.bounds == (4160.0, 9280.0, 11200.0, 16320.0)
    assert wide.shape == (704, 704)
    assert wide.snapped(16) == wide
