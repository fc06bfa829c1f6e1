"""Writing a batch's regions: each computed region goes beyond the committed shape, then is marked.

Kept apart from the cube's plan/commit logic (``zarr_cube``): these run on the
workers, and the driver only counts them as they finish.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dask.array as da
import numpy as np
import zarr
from dask.base import compute
from dask.delayed import delayed
from zarr.core.array import Array, AsyncArray

from .schema import DATA_VARS

#: Called once per region written (progress bars); runs on the driver.
RegionCallback = Callable[[], None]


def beyond(array: zarr.Array, length: int) -> Array:  # type: ignore[type-arg]
    """A handle on ``array`` as if it had ``length`` pairs, without publishing that shape."""
    shape = (length, *array.shape[1:])
    metadata = dataclasses.replace(array.metadata, shape=shape)
    handle = array.async_array
    return Array(AsyncArray(metadata, handle.store_path, config=handle.config))


def open_for_writing(url: str) -> zarr.Group:
    """The group as it is on disk: never through consolidated metadata, which may lag."""
    return zarr.open_group(url, mode="r+", use_consolidated=False)


def write_region(
    block: np.ndarray,
    url: str,
    start: int,
    y0: int,
    x0: int,
    done: str,
    cell: tuple[int, int, int],
    length: int,
) -> int:
    """Write one computed region (pairs, 2, h, w) beyond the committed shape, then mark it."""
    group = open_for_writing(url)
    stop_pair = start + block.shape[0]
    for k, name in enumerate(DATA_VARS):
        target = beyond(group[name], length)  # type: ignore[arg-type]
        target[start:stop_pair, y0 : y0 + block.shape[2], x0 : x0 + block.shape[3]] = block[:, k]
    group[done][cell] = 1  # type: ignore[index]
    return 1


#: Regions per strip: a batch is computed strip by strip, row by row inside a strip, so
#: the inputs held for neighbours' halos span a strip, not the whole width of the area.
STRIP_REGIONS = 4


def region_order(
    shape: tuple[int, int, int], strip: int = STRIP_REGIONS
) -> Iterator[tuple[int, int, int]]:
    """Cells ``(pair block, row, column)`` of a batch of ``shape`` in computing order.

    Strips of ``strip`` columns, left to right; inside a strip row by row; a region's pair
    blocks together (they share dates). A region's neighbours then come at most
    ``strip + 1`` regions after it, so the reads it shares with them (halos, dates) are
    still live when they run; only a strip's edge column is read again by the next strip.
    """
    pair_blocks, rows, columns = shape
    for first in range(0, columns, strip):
        for ty in range(rows):
            for tx in range(first, min(first + strip, columns)):
                for j in range(pair_blocks):
                    yield j, ty, tx


def regions_in_flight(shape: tuple[int, int, int], strip: int = STRIP_REGIONS) -> int:
    """Regions submitted at once for ``region_order``: a strip's row and two regions more,
    each with all its pair blocks (the same for any area wider than a strip)."""
    pair_blocks, _, columns = shape
    return pair_blocks * (min(strip, columns) + 2)


def region_writes(
    blocks: da.Array,
    marks: np.ndarray,
    url: str,
    start: int,
    done: str,
    length: int,
) -> list[Any]:
    """Delayed ``write_region`` of every unmarked region of a batch, in ``region_order``.

    ``blocks`` is the batch's lazy ``(pairs, 2, y, x)`` coherence and sigma (chunks: the
    regions); ``marks`` its done marks ``(pair blocks, rows, columns)``; the batch's pairs
    go from pair ``start`` of a cube of ``length`` pairs.
    """
    pair_chunks, _, y_chunks, x_chunks = blocks.chunks
    # One graph for all regions: blocks taken apart (``blocks.blocks``) are culled apart, with
    # their own names for the reads they share, and each read would run once per user.
    parts = blocks.rechunk({1: -1}).to_delayed()
    pair_edges, y_edges, x_edges = (np.cumsum((0, *c)) for c in (pair_chunks, y_chunks, x_chunks))
    shape = (len(pair_chunks), len(y_chunks), len(x_chunks))
    return [
        delayed(write_region)(
            parts[j, 0, ty, tx],
            url,
            start + int(pair_edges[j]),
            int(y_edges[ty]),
            int(x_edges[tx]),
            done,
            (j, ty, tx),
            length,
        )
        for j, ty, tx in region_order(shape)
        if not marks[j, ty, tx]
    ]


def compute_regions(
    tasks: Sequence[Any],
    on_region: RegionCallback | None = None,
    *,
    client: Any = None,
    in_flight: int | None = None,
) -> None:
    """Compute the delayed region writes, calling ``on_region`` as each one lands.

    On a distributed client (``client``, else the current one) the regions are
    submitted as futures and counted as they complete (other batches' futures may
    run beside them: several tiles in flight share the cluster); otherwise dask's
    current scheduler computes them. A given ``client`` that has been closed
    raises (``ClosedClientError``) rather than computing anywhere else.

    ``in_flight`` bounds the regions submitted and not yet finished (at least two per
    worker thread), in the order of ``tasks``: the scheduler runs every submitted read
    as soon as a thread is free, so without a bound a batch's whole input would be read
    ahead of its inference and held. Callers order ``tasks`` so that regions sharing
    inputs (neighbours' halos) are submitted while the inputs are still live, and make
    them from one graph (``Array.to_delayed``) so that shared inputs share their keys.
    """
    if not tasks:
        return
    if client is None:
        client = _distributed_client()
    if client is None:
        compute(*tasks)
        if on_region is not None:
            for _ in tasks:
                on_region()
        return
    from distributed import as_completed

    window = len(tasks) if in_flight is None else max(in_flight, 2 * _threads(client))
    waiting = iter(tasks)
    futures = [client.compute(task) for task in itertools.islice(waiting, window)]
    finished = as_completed(futures)
    try:
        for future in finished:
            future.result()
            if on_region is not None:
                on_region()
            for task in itertools.islice(waiting, 1):
                futures.append(client.compute(task))
                finished.add(futures[-1])
    finally:
        client.cancel([f for f in futures if not f.done()])


def _threads(client: Any) -> int:
    """Worker threads the cluster has now (0 while an adaptive cluster has none, or when the
    client is closed: its first submission then raises ``ClosedClientError``)."""
    if client.status != "running":
        return 0
    return int(sum(client.nthreads().values()))


def _distributed_client() -> Any:
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None
