"""Writing a batch's regions: each computed region goes beyond the committed shape, then is marked.

Kept apart from the cube's plan/commit logic (``zarr_cube``): these run on the
workers, and the driver only counts them as they finish.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import zarr
from dask.base import compute
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


def compute_regions(
    tasks: Sequence[Any], on_region: RegionCallback | None = None, *, client: Any = None
) -> None:
    """Compute the delayed region writes, calling ``on_region`` as each one lands.

    On a distributed client (``client``, else the current one) the regions are
    submitted as futures and counted as they complete (other batches' futures may
    run beside them: several tiles in flight share the cluster); otherwise dask's
    current scheduler computes them. A given ``client`` that has been closed
    raises (``ClosedClientError``) rather than computing anywhere else.
    """
    if not tasks:
        return
    if client is None and on_region is not None:
        client = _distributed_client()
    if client is None:
        compute(*tasks)
        if on_region is not None:
            for _ in tasks:
                on_region()
        return
    from distributed import as_completed

    futures = client.compute(list(tasks))
    try:
        for future in as_completed(futures):
            future.result()
            if on_region is not None:
                on_region()
    finally:
        client.cancel([f for f in futures if not f.done()])


def _distributed_client() -> Any:
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None
