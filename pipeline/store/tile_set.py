"""A tiled coherence store: one coherence cube per tile, as groups of one Zarr store.

``<store>/`` is a Zarr group marked ``cohcube:format = cohcube-tile-set`` that
records the tile grid and a short run log; ``<store>/<tile id>/`` is a
coherence cube (``store`` module) with all its guarantees (region-by-region
writes, resumable batches, pairs visible only when complete). Tiles never mix
CRSs, so jobs parallelise over tiles.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from cohcube.model.errors import StoreError
from cohcube.pipeline.tiles import TileGrid

from .zarr_cube import is_coherence_cube, open_coherence_cube, store_format

log = logging.getLogger(__name__)

TILE_SET_FORMAT = "cohcube-tile-set"
MAX_RUN_LOG = 50
#: Root attribute present while a run is writing the tile set.
RUN_OPEN = "cohcube:run_open"
PROBE_PREFIX = ".cohcube-write-probe-"


def tile_url(store: str, tile_id: str) -> str:
    """Location of one tile's cube inside the store."""
    return f"{store.rstrip('/')}/{tile_id}"


def _is_tile_set(store: str) -> bool:
    return store_format(store) == TILE_SET_FORMAT


def check_store_location(store: str) -> None:
    """Refuse a local ``store`` that holds something else or cannot be written.

    An empty folder is accepted; a missing one is not created here (the job
    creates it once it has something to write), but its nearest existing parent
    must be writable.

    Raises:
        StoreError: naming ``output.store``, the path and the reason.
    """
    if "://" in store:
        return
    path = Path(store)
    occupied = path.is_file() or (
        path.is_dir() and any(not p.name.startswith(PROBE_PREFIX) for p in path.iterdir())
    )
    if occupied and not _is_tile_set(store):
        kind = "a single-region coherence cube" if is_coherence_cube(store) else "not a cohcube"
        raise StoreError(
            f"output.store {store} exists and is {kind} tile set; choose another "
            "output path (refusing to write into it)"
        )
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not folder.is_dir():
            raise NotADirectoryError(20, f"{folder} is a file")
        probe = folder / f"{PROBE_PREFIX}{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise StoreError(
            f"output.store {store} is not writable ({exc.strerror or exc}); "
            "choose a folder you can write to"
        ) from None


def open_tile_set(store: str, tiles: TileGrid) -> zarr.Group:
    """Open (or create) the tile set at ``store`` for writing (hold ``store_lock(store)``).

    Raises:
        StoreError: ``store`` exists but is not a cohcube tile set, or was
            made with another tile grid.
    """
    check_store_location(store)
    grid = {"tile_px": tiles.tile_px, "resolution_m": tiles.resolution_m}
    if _is_tile_set(store):
        group = zarr.open_group(store, mode="r+")
        held = group.attrs.get("cohcube:tile_grid")
        if held != grid:
            raise StoreError(
                f"output.store {store} was made with tile grid {held}, not {grid}; "
                "use the same grid settings or another store"
            )
        return group
    group = zarr.open_group(store, mode="w")
    group.attrs.update(
        {"cohcube:format": TILE_SET_FORMAT, "cohcube:tile_grid": grid, "cohcube:open": HOW_TO_OPEN}
    )
    return group


#: Root attribute of a tile set, for someone who opens the root and finds no variables.
HOW_TO_OPEN = (
    "a tile set: one coherence cube per tile, each a group; open all with "
    "cohcube.pipeline.store.tile_set.open_tiles(store) (a DataTree) or "
    "xarray.open_datatree(store, engine='zarr'), one with "
    "xarray.open_zarr(store, group='<tile id>')"
)


def tile_ids(store: str) -> list[str]:
    """Ids of the tiles that hold a coherence cube, sorted."""
    if not _is_tile_set(store):
        return []
    group = zarr.open_group(store, mode="r")
    with warnings.catch_warnings():
        # Tiles being written: their lock files beside the cubes, and a cube's folder
        # before its metadata lands, are not Zarr nodes (yet).
        warnings.filterwarnings("ignore", message=r"Object at .* is not recognized as a component")
        names = [name for name, _ in group.groups()]
    return sorted(name for name in names if is_coherence_cube(tile_url(store, name)))


def open_tiles(store: str | Path) -> xr.DataTree:
    """Every tile's coherence cube (committed pairs only, lazily) as one DataTree.

    ``tree["33N_0117_1014"].dataset`` is one tile; the root holds the store's
    attributes (tile grid, run log). Plain ``xr.open_zarr(store)`` shows only
    the root, which has no variables: the cubes are its groups.
    """
    root = zarr.open_group(str(store), mode="r")
    tiles = {f"/{t}": open_tile(store, t) for t in tile_ids(str(store))}
    tree = xr.DataTree.from_dict({"/": xr.Dataset(attrs=dict(root.attrs)), **tiles})
    return tree


def open_tile(store: str | Path, tile_id: str) -> xr.Dataset:
    """One tile's coherence cube, lazily (committed pairs only)."""
    return open_coherence_cube(tile_url(str(store), tile_id))


def tile_set_exists(store: str) -> bool:
    """Whether ``store`` is a tile set already (written by an earlier run)."""
    return _is_tile_set(store)


def pending_pairs(store: str) -> int:
    """Pairs planned by an interrupted run and not yet committed, over every tile."""
    total = 0
    for tile_id in tile_ids(store):
        group = zarr.open_group(tile_url(store, tile_id), mode="r")
        pending = group.attrs.get("cohcube:pending")
        if isinstance(pending, dict):
            total += len(pending.get("pairs", []))
    return total


def held_through(store: str) -> np.datetime64 | None:
    """Time up to which every tile holding a cube has its pairs: the oldest of the tiles'
    newest secondary acquisitions (a tile that fell behind, e.g. after a failed run, sets
    it). None when no tile holds a pair."""
    newest = [
        times.max()
        for tile_id in tile_ids(store)
        if (times := open_tile(store, tile_id)["secondary_time"].values).size
    ]
    return min(newest) if newest else None


def mark_run_open(group: zarr.Group) -> None:
    """Note in the tile set that a run is writing it (``record_run`` clears the note): while
    it stands, ``unfinished_run`` says the store may hold some tiles but not others."""
    group.attrs[RUN_OPEN] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def unfinished_run(store: str) -> str | None:
    """Why the last run may have left tiles behind (None: it ran every tile to the end).

    Tiles run concurrently, so an interrupted run may have committed some tiles and not
    yet created others; a tile that failed may hold nothing. ``held_through`` only sees
    the tiles that exist, so ``time.start: last-run`` must not narrow the search then.
    """
    if not _is_tile_set(store):
        return None
    attrs = zarr.open_group(store, mode="r", use_consolidated=False).attrs
    if RUN_OPEN in attrs:
        return f"the run started {attrs[RUN_OPEN]} did not finish"
    runs = attrs.get("cohcube:runs")
    failed = runs[-1].get("tiles_failed") if isinstance(runs, list) and runs else None
    if failed:
        return f"{len(failed)} tile(s) failed in the last run (first: {failed[0]})"
    return None


def record_run(group: zarr.Group, summary: dict[str, Any]) -> None:
    """Append a run summary to the store's run log (last ``MAX_RUN_LOG`` kept); the run is
    no longer open."""
    group.attrs.pop(RUN_OPEN, None)
    held = group.attrs.get("cohcube:runs", [])
    runs = list(held) if isinstance(held, list) else []
    runs.append({"finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **summary})
    group.attrs["cohcube:runs"] = runs[-MAX_RUN_LOG:]


def require_tile_set(store: str) -> None:
    """Raise unless ``store`` is a tile set (for readers)."""
    if not _is_tile_set(store):
        raise StoreError(f"{store} is not a cohcube tile set (made by `cohcube process`)")
