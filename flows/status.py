"""``cohcube status STORE``: what a tile set holds and what its runs did (reads only).

The store's root keeps a log of its last runs (``record_run``: start, end,
pairs added per tile, tiles failed, output throughput); each tile's cube
knows its committed pairs and any batch an interrupted run left pending.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import zarr

from cohcube.pipeline.store.tile_set import (
    held_through,
    open_tile,
    require_tile_set,
    tile_ids,
    tile_url,
    unfinished_run,
)


@dataclass
class StoreStatus:
    """A tile set's state (``as_dict`` for ``--json``)."""

    store: str
    tile_grid: dict[str, Any]
    tiles: dict[str, int]
    pending: dict[str, int]
    held_through: str | None
    unfinished: str | None
    runs: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def store_status(store: str, runs: int = 5) -> StoreStatus:
    """The state of the tile set at ``store`` and its last ``runs`` run summaries.

    Raises:
        StoreError: ``store`` is not a tile set.
    """
    require_tile_set(store)
    root = zarr.open_group(store, mode="r", use_consolidated=False)
    pairs = {t: int(open_tile(store, t).sizes["pair"]) for t in tile_ids(store)}
    pending = {}
    for tile in pairs:
        batch = zarr.open_group(tile_url(store, tile), mode="r").attrs.get("cohcube:pending")
        if isinstance(batch, dict):
            pending[tile] = len(batch.get("pairs", []))
    log = root.attrs.get("cohcube:runs")
    through = held_through(store)
    return StoreStatus(
        store=store,
        tile_grid=grid if isinstance(grid := root.attrs.get("cohcube:tile_grid"), dict) else {},
        tiles=pairs,
        pending=pending,
        held_through=None if through is None else str(through)[:19],
        unfinished=unfinished_run(store),
        runs=list(log)[-runs:] if isinstance(log, list) else [],
    )


def status_table(status: StoreStatus) -> str:
    """The status in words, for the terminal."""
    held = sum(status.tiles.values())
    lines = [
        f"{status.store}: {len(status.tiles)} tile(s) of {status.tile_grid.get('tile_px')} px, "
        f"{held} pair(s) committed, every tile up to {status.held_through or 'nothing yet'}",
    ]
    if status.pending:
        lines.append(
            f"pending (an interrupted run; the next run resumes them): "
            f"{sum(status.pending.values())} pair(s) in {len(status.pending)} tile(s)"
        )
    if status.unfinished:
        lines.append(f"last run: {status.unfinished}; the next run retries what is missing")
    for run in status.runs:
        failed = run.get("tiles_failed") or []
        named = f" ({', '.join(failed[:3])})" if failed else ""
        lines.append(
            f"  run {run.get('started', '?')} -> {run.get('finished', '?')}: "
            f"{run.get('pairs_added', 0)} pair(s) added to {len(run.get('tiles') or {})} "
            f"tile(s), {len(failed)} failed{named}, "
            f"{run.get('seconds', '?')} s, {run.get('output_mpx_per_s', '?')} Mpx/s"
        )
    return "\n".join(lines)
