"""``cohcube plan``: what a job would do, before it does anything (no computation, no writes).

It searches like ``cohcube process`` (same query, same ``last-run`` range),
assigns the scenes to tiles with the same spatial index and margins, pairs
each tile's acquisitions with the job's policy and compares them with the
pairs the store holds. From that: the pixels the network must evaluate
(each region with its halo on every side), the time that takes at the
throughputs the model card records per device kind and precision
(``cohcube export`` / ``cohcube calibrate-device`` measure them), and the
bytes the store will grow by. Asset files are never opened.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cohcube.pipeline.clusters import local_layout
from cohcube.pipeline.grid import spatial_chunks
from cohcube.pipeline.pairs import acquisitions_table, select_pairs
from cohcube.pipeline.scene_items import item_time, pass_key
from cohcube.pipeline.search import search_scenes
from cohcube.pipeline.store.tile_set import tile_url
from cohcube.pipeline.store.zarr_cube import StoreLayout, committed_pairs
from cohcube.pipeline.tile_scenes import SceneIndex
from cohcube.pipeline.tiles import TileGrid, tiles_for_region

from .job_config import ProcessConfig, bearer_headers
from .job_steps import choose_model
from .process import scene_query

log = logging.getLogger(__name__)

#: Bytes per output pixel and pair: coherence and its sigma, float32, before compression.
BYTES_PER_PIXEL_PAIR = 8


@dataclass
class TilePlan:
    """One tile: its scenes, acquisitions and pairs (held, new), and the pixels to compute."""

    tile: str
    scenes: int
    acquisitions: int
    pairs_held: int
    pairs_new: int
    forward_mpx: float


@dataclass
class TimeEstimate:
    """Compute time at one throughput the model card records."""

    device: str
    precision: str
    mpx_per_s_per_worker: float
    workers: int
    hours: float


@dataclass
class JobPlan:
    """What ``cohcube process`` would do with a config (``as_dict`` for ``--json``)."""

    store: str
    tile_px: int
    halo_px: int
    tiles_touched: int
    tracks: dict[str, dict[str, int]]
    tiles: list[TilePlan]
    workers: int
    output_mpx: float
    forward_mpx: float
    store_bytes_uncompressed: int
    estimates: list[TimeEstimate] = field(default_factory=list)

    @property
    def pairs_held(self) -> int:
        return sum(t.pairs_held for t in self.tiles)

    @property
    def pairs_new(self) -> int:
        return sum(t.pairs_new for t in self.tiles)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"pairs_held": self.pairs_held, "pairs_new": self.pairs_new}


def forward_pixels_per_pair(tile_px: int, region_px: int, halo_px: int) -> int:
    """Pixels the network evaluates for one pair of one tile: every region of the tile with
    the halo on all four sides (the tile's margin supplies it at the tile's edges)."""
    rows, cols = spatial_chunks((tile_px, tile_px), region_px)
    return sum((r + 2 * halo_px) * (c + 2 * halo_px) for r in rows for c in cols)


def plan_job(config: ProcessConfig, workers: int | None = None) -> JobPlan:
    """The plan of ``config`` (see the module docstring); ``workers``: for the time estimate
    (default: the config's, else the local cluster's default on this machine)."""
    grid = TileGrid(tile_px=config.grid.tile_px, resolution_m=config.grid.resolution_m)
    model = choose_model(config.model, polarizations=config.polarizations, tile_px=grid.tile_px)
    region = config.region.geometry()
    tiles = tiles_for_region(region, grid)
    scenes = search_scenes(
        config.catalog,
        scene_query(config, region),
        headers=bearer_headers(config.catalog_token_env),
    )
    index = SceneIndex(scenes)
    region_px = StoreLayout.for_tiles(grid.tile_px).shard_px
    per_pair = forward_pixels_per_pair(grid.tile_px, region_px, model.halo_px)
    # Each scene's pass and time once; tiles with the same passes share one pair table
    # (neighbouring tiles under the same frames), so a continent pairs each pattern once.
    facts = {id(s): (pass_key(s), pd.Timestamp(item_time(s).replace(tzinfo=None))) for s in scenes}
    pair_ids: dict[tuple[Any, ...], list[str]] = {}
    plans = []
    for tile in tiles:
        mine, own = index.of_tile(tile, model.halo_px)
        if not own:
            continue
        first: dict[tuple[Any, ...], pd.Timestamp] = {}
        for scene in mine:
            key, when = facts[id(scene)]
            first[key] = min(first.get(key, when), when)
        pattern = tuple(sorted(first.items(), key=lambda kv: (kv[1], str(kv[0]))))
        if pattern not in pair_ids:
            pairs = select_pairs(
                acquisitions_table(first),
                config.pairs.baselines_days,
                tolerance_days=config.pairs.tolerance_days,
                policy=config.pairs.policy,
                max_baseline_days=config.pairs.max_baseline_days,
            )
            pair_ids[pattern] = list(pairs["pair_id"])
        held = committed_pairs(tile_url(config.output.store, tile.id))
        new = sum(1 for p in pair_ids[pattern] if p not in held)
        plans.append(TilePlan(tile.id, own, len(first), len(held), new, new * per_pair / 1e6))
    scenes_per_track: Counter[str] = Counter()
    passes_per_track: dict[str, set[tuple[Any, ...]]] = {}
    for key, _ in facts.values():
        track = f"{key[0]} {key[1]}"
        scenes_per_track[track] += 1
        passes_per_track.setdefault(track, set()).add(key)
    tracks = {
        track: {"scenes": scenes_per_track[track], "acquisitions": len(passes_per_track[track])}
        for track in sorted(scenes_per_track)
    }
    chosen_workers = workers or config.cluster.workers or local_layout(None, None)[0]
    new_pairs = sum(p.pairs_new for p in plans)
    forward = sum(p.forward_mpx for p in plans)
    plan = JobPlan(
        store=config.output.store,
        tile_px=grid.tile_px,
        halo_px=model.halo_px,
        tiles_touched=len(tiles),
        tracks=tracks,
        tiles=plans,
        workers=chosen_workers,
        output_mpx=new_pairs * grid.tile_px**2 / 1e6,
        forward_mpx=forward,
        store_bytes_uncompressed=new_pairs * grid.tile_px**2 * BYTES_PER_PIXEL_PAIR,
    )
    for record in model.card.throughput or []:
        rate = record.mpx_per_s * chosen_workers
        plan.estimates.append(
            TimeEstimate(
                record.device,
                record.precision,
                record.mpx_per_s,
                chosen_workers,
                forward / rate / 3600 if rate > 0 else float("inf"),
            )
        )
    return plan


def plan_table(plan: JobPlan, config_path: Path) -> str:
    """The plan in words, for the terminal."""
    lines = [
        f"plan of {config_path} (nothing computed, nothing written); store {plan.store}",
        f"tiles: {plan.tiles_touched} of {plan.tile_px} px touched by the region, "
        f"{len(plan.tiles)} with scenes; halo {plan.halo_px} px read from neighbours",
    ]
    for track, counts in plan.tracks.items():
        lines.append(
            f"  track {track:<16} scenes {counts['scenes']:6d}  "
            f"acquisitions {counts['acquisitions']:5d}"
        )
    lines += [
        f"pairs: {plan.pairs_held} held, {plan.pairs_new} new",
        f"pixels: {plan.output_mpx:,.1f} Mpx of output, {plan.forward_mpx:,.1f} Mpx "
        "through the network (halos included)",
        f"store grows by up to {plan.store_bytes_uncompressed / 1e9:,.2f} GB "
        "(float32 before compression)",
    ]
    if not plan.estimates:
        lines.append(
            "time: the model card records no throughput; run `cohcube calibrate-device` on "
            "the workers' kind of machine"
        )
    for estimate in plan.estimates:
        lines.append(
            f"time on {estimate.workers} worker(s) of {estimate.device}, {estimate.precision}: "
            f"{_duration(estimate.hours)} ({estimate.mpx_per_s_per_worker:.3f} Mpx/s per worker)"
        )
    return "\n".join(lines)


def _duration(hours: float) -> str:
    return f"{hours:,.1f} h" if hours >= 1 else f"{hours * 60:.1f} min"
