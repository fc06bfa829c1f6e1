"""Reading measurement windows tile by tile, through a per-process cache of decoded tiles.

Neighbouring chunks of a cube need overlapping radar windows (the map grid is
rotated against the radar grid, and each window has a one-pixel margin), so
reading each chunk's window straight from the COG fetches most tiles two to
four times. Reading whole internal tiles and keeping the recently used ones
(``CACHE_BYTES`` per process, least recently used out first) fetches each tile
about once per worker, and memory stays bounded by the cache, not the scene.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import rasterio
from rasterio.windows import Window

#: Decoded tiles kept per worker process, bytes (uint16: 512 x 512 tiles are 0.5 MB).
CACHE_BYTES = 256 * 2**20

_lock = threading.Lock()
_tiles: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
_cached_bytes = 0


def _remember(key: tuple[str, int, int], tile: np.ndarray) -> None:
    global _cached_bytes
    with _lock:
        if key in _tiles:
            return
        _tiles[key] = tile
        _cached_bytes += tile.nbytes
        while _cached_bytes > CACHE_BYTES and _tiles:
            _, dropped = _tiles.popitem(last=False)
            _cached_bytes -= dropped.nbytes


def _recall(key: tuple[str, int, int]) -> np.ndarray | None:
    with _lock:
        tile = _tiles.get(key)
        if tile is not None:
            _tiles.move_to_end(key)
        return tile


def clear_cache() -> None:
    """Forget every cached tile (tests, benchmarks)."""
    global _cached_bytes
    with _lock:
        _tiles.clear()
        _cached_bytes = 0


def read_window(
    href: str,
    rows: tuple[int, int],
    cols: tuple[int, int],
    opener: Callable[[], rasterio.io.DatasetReader],
) -> np.ndarray:
    """Band 1 of ``href`` over ``rows x cols`` (half-open), assembled from cached tiles.

    Args:
        href: the measurement raster (the cache key).
        rows, cols: the window, inside the raster.
        opener: opens the raster (with the caller's GDAL environment and retries
            around this whole call); only called when a tile is not cached.
    """
    row0, row1 = rows
    col0, col1 = cols
    out: np.ndarray | None = None
    dataset = None
    try:
        dataset = opener()
        block_rows, block_cols = dataset.block_shapes[0]
        height, width = dataset.height, dataset.width
        out = np.empty((row1 - row0, col1 - col0), dtype=dataset.dtypes[0])
        for i in range(row0 // block_rows, (row1 - 1) // block_rows + 1):
            for j in range(col0 // block_cols, (col1 - 1) // block_cols + 1):
                key = (href, i, j)
                tile = _recall(key)
                if tile is None:
                    window = Window(
                        j * block_cols,
                        i * block_rows,
                        min(block_cols, width - j * block_cols),
                        min(block_rows, height - i * block_rows),
                    )
                    tile = dataset.read(1, window=window)
                    _remember(key, tile)
                r0, c0 = i * block_rows, j * block_cols
                top, left = max(row0, r0), max(col0, c0)
                bottom = min(row1, r0 + tile.shape[0])
                right = min(col1, c0 + tile.shape[1])
                out[top - row0 : bottom - row0, left - col0 : right - col0] = tile[
                    top - r0 : bottom - r0, left - c0 : right - c0
                ]
    finally:
        if dataset is not None:
            dataset.close()
    return out
