"""The regional job: search -> per-tile cube -> new pairs -> Dask inference -> tiled Zarr store.

Incremental by construction: each tile's cube knows its pairs, so a run adds
only pairs it does not hold (new acquisitions give new pairs); a finished job
re-run adds nothing; an interrupted one resumes (the store module's
guarantees). ``time.start: last-run`` narrows the search to what a new
acquisition can pair with. One job writes a store at a time: a second one
started on it refuses (lock file beside the store) rather than interleave.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd
import pystac
import zarr

from cohcube.model.errors import CohcubeError, StoreError
from cohcube.pipeline.asset_reader import unusable_scenes
from cohcube.pipeline.clusters import dask_client
from cohcube.pipeline.cube import GDAL_HTTP_SETTINGS
from cohcube.pipeline.errors import AssetReadError
from cohcube.pipeline.grd.cube import unreadable_grd_scenes
from cohcube.pipeline.search import SceneQuery, search_scenes
from cohcube.pipeline.store.lock import store_lock
from cohcube.pipeline.store.regions import RegionCallback
from cohcube.pipeline.store.tile_set import (
    check_store_location,
    held_through,
    mark_run_open,
    open_tile_set,
    pending_pairs,
    record_run,
    tile_ids,
    tile_set_exists,
    tile_url,
    unfinished_run,
)
from cohcube.pipeline.store.zarr_cube import StoreLayout, committed_pairs
from cohcube.pipeline.tile_scenes import SceneIndex
from cohcube.pipeline.tiles import Tile, TileGrid, tiles_for_region
from cohcube.pipeline.worker_model import pair_batch_for, warm_workers

from .job_config import PairConfig, ProcessConfig, Signer, asset_signer, bearer_headers
from .job_steps import ChosenModel, choose_model, infer_into_cube, publish_catalog, stack_pairs
from .tile_window import run_window, tiles_for_threads

log = logging.getLogger(__name__)


@dataclass
class TileReport:
    """What a run did on one tile."""

    tile: str
    scenes: int = 0
    acquisitions: int = 0
    pairs_added: list[str] = field(default_factory=list)
    pairs_held: int = 0
    regions_computed: int = 0
    regions_total: int = 0
    status: str = "done"


@dataclass
class ProcessReport:
    """What a run did."""

    store: str
    tiles: list[TileReport]
    skipped_scenes: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    stac: str | None = None

    @property
    def pairs_added(self) -> int:
        return sum(len(t.pairs_added) for t in self.tiles)

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "pairs_added": self.pairs_added,
            "regions_computed": sum(t.regions_computed for t in self.tiles),
            "seconds": round(self.seconds, 1),
            "skipped_scenes": self.skipped_scenes,
            "stac": self.stac,
            "tiles": [asdict(t) for t in self.tiles],
        }


def _lookback_days(pairs: PairConfig) -> float:
    """How far before the newest held acquisition a new one may find its partner."""
    if pairs.policy == "fixed":
        return max(pairs.baselines_days) + pairs.tolerance_days
    if pairs.policy == "all":
        return float(pairs.max_baseline_days or 0) + pairs.tolerance_days
    return 0.0  # nearest: the newest held acquisition itself


def _datetime_range(config: ProcessConfig, store: str) -> str | None:
    start = config.time.start
    if start == "last-run":
        held = held_through(store)
        unfinished = unfinished_run(store)
        if unfinished and held is not None:
            log.info("time.start last-run: %s; searching from the beginning", unfinished)
            start = None
        elif held is None:
            pending = pending_pairs(store)
            if pending:
                log.info(
                    "time.start last-run: no pair is committed yet; %d pairs of an interrupted "
                    "run are pending and will be resumed; searching from the beginning",
                    pending,
                )
            else:
                log.info("time.start last-run: the store is empty, searching from the beginning")
            start = None
        else:
            newest = pd.Timestamp(held).tz_localize("UTC").to_pydatetime()
            start = newest - dt.timedelta(days=_lookback_days(config.pairs), seconds=1)
            log.info(
                "time.start last-run: every tile holds pairs up to %s, searching from %s",
                newest.isoformat(),
                start.isoformat(),
            )
    end = config.time.end
    if start is None and end is None:
        return None

    def text(value: dt.datetime | None) -> str:
        if value is None:
            return ".."
        value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return f"{text(start)}/{text(end)}"


def scene_query(config: ProcessConfig, region: dict[str, Any]) -> SceneQuery:
    """The search of a job over ``region`` (its time range after the store's ``last-run``)."""
    return SceneQuery(
        collection=config.collection,
        intersects=region,
        datetime=_datetime_range(config, config.output.store),
        polarizations=tuple(config.polarizations),
        orbit_state=config.orbit_state,
        relative_orbits=tuple(config.relative_orbits),
    )


def _usable_scenes(
    scenes: list[pystac.Item],
    bands: tuple[str, ...],
    on_unreadable: str,
    signer: Signer | None = None,
) -> tuple[list[pystac.Item], dict[str, str]]:
    """The scenes whose assets can be read and hold data, and ``{scene id: reason}`` of the rest.

    Raises:
        AssetReadError: some scene is unusable and ``on_unreadable`` is ``stop``,
            or every scene is unusable.
    """
    readable = [signer(s) for s in scenes] if signer else scenes
    skipped = unusable_scenes(readable, bands, GDAL_HTTP_SETTINGS)
    skipped |= unreadable_grd_scenes([s for s in readable if s.id not in skipped], bands)
    if skipped and on_unreadable == "stop":
        scene, reason = next(iter(skipped.items()))
        more = f" (and {len(skipped) - 1} more scene(s))" if len(skipped) > 1 else ""
        raise AssetReadError(
            f"scene {scene}: {reason}{more}; no pair of this run was marked "
            "complete -- fix the catalog and re-run, or set on_unreadable: skip to leave such "
            "scenes out"
        )
    for scene, reason in skipped.items():
        log.warning("skipping scene %s: %s", scene, reason)
    usable = [s for s in scenes if s.id not in skipped]
    if not usable:
        raise AssetReadError(
            f"every one of the {len(skipped)} scene(s) found is unusable; first: "
            f"{next(iter(skipped.values()))}"
        )
    return usable, skipped


def run_process(config: ProcessConfig, *, progress: bool = True) -> ProcessReport:
    """Run the regional job once (see the module docstring).

    Raises:
        CohcubeError (and subclasses): bad region, empty search, bad store, bad model.
    """
    started = time.perf_counter()
    began = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    store = config.output.store
    grid = TileGrid(tile_px=config.grid.tile_px, resolution_m=config.grid.resolution_m)
    model = choose_model(config.model, polarizations=config.polarizations, tile_px=grid.tile_px)
    region = config.region.geometry()
    tiles = tiles_for_region(region, grid)
    check_store_location(store)
    headers = bearer_headers(config.catalog_token_env)
    signer = asset_signer(config.sign_assets)
    with store_lock(store):  # one job per store: a second one refuses, naming the first
        query = scene_query(config, region)
        # Unsigned in the index: each tile signs its own scenes when it reads them, so a
        # job running for days never reads with an expired token.
        scenes = search_scenes(config.catalog, query, headers=headers)
        log.info("%d scenes over %d tiles (%s)", len(scenes), len(tiles), query.describe())
        # Stack what the model reads (a single-polarisation model: VV only).
        bands = tuple(p.lower() for p in model.card.input.polarizations)
        scenes, skipped = _usable_scenes(scenes, bands, config.on_unreadable, signer)
        index = SceneIndex(scenes)
        if tile_set_exists(store):
            open_tile_set(store, grid)  # an existing store of another tile grid stops here
        layout = StoreLayout.for_tiles(grid.tile_px)
        report = ProcessReport(store=store, tiles=[], skipped_scenes=skipped)
        with ExitStack() as resources:
            opened: list[zarr.Group] = []
            clients: list[Any] = []
            on_workers: list[ChosenModel] = []
            started_lock = threading.Lock()
            stopping = threading.Event()

            def prepare() -> ChosenModel:
                """The store and the cluster, made the first time a tile has pairs to add:
                a run that finds nothing new starts nothing and writes nothing. Returns the
                model as the workers hold it."""
                with started_lock:
                    if stopping.is_set():
                        raise StoreError("the job is stopping; this tile was not started")
                    if opened:
                        return on_workers[0]
                    client = resources.enter_context(dask_client(config.cluster.spec()))
                    workers_read = config.cluster.model_url or str(model.card_path.resolve())
                    label = warm_workers(
                        client, workers_read, model.card.artefact.sha256, config.precision
                    )
                    clients.append(client)
                    on_workers.append(
                        replace(
                            model,
                            workers_read=workers_read,
                            precision_label=label,
                            workers=client,
                            pair_batch=pair_batch_for(client),
                        )
                    )
                    opened.append(open_tile_set(store, grid))
                    mark_run_open(opened[0])
                    return on_workers[0]

            def window() -> int:
                if config.cluster.tiles_in_flight:
                    return config.cluster.tiles_in_flight
                threads = sum(clients[0].nthreads().values()) if clients else 1
                return tiles_for_threads(threads)

            def work(tile: Tile, on_region: RegionCallback) -> TileReport:
                return _process_tile(
                    config, tile, index, bands, model, layout, store, prepare, on_region, signer
                )

            try:
                outcome = run_window(
                    tiles, work, window, progress=progress, label=lambda t: f"tile {t.id}"
                )
            finally:
                stopping.set()
        for tile, result in zip(tiles, outcome.results, strict=True):
            report.tiles.append(result or TileReport(tile=tile.id, status="failed"))
        report.seconds = time.perf_counter() - started
        if not opened:
            _raise_for_failures(outcome.failures)
            log.info("nothing new to add: the store is unchanged")
            return report
        record_run(
            opened[0],
            {
                "started": began,
                "pairs_added": report.pairs_added,
                "output_mpx_per_s": round(
                    report.pairs_added * grid.tile_px**2 / 1e6 / max(report.seconds, 1e-9), 3
                ),
                "tiles": {t.tile: len(t.pairs_added) for t in report.tiles if t.pairs_added},
                "regions_computed": sum(t.regions_computed for t in report.tiles),
                "seconds": round(report.seconds, 1),
                "skipped_scenes": skipped,
                "tiles_failed": [t.id for t, _ in outcome.failures],
            },
        )
        held = tile_ids(store)
        if held:
            report.stac = publish_catalog(
                store,
                {t: tile_url(store, t) for t in held},
                f"InSAR coherence of {config.collection} pairs, one cube per tile "
                f"({grid.tile_px} px of {grid.resolution_m:g} m), written by cohcube process",
            )
    _raise_for_failures(outcome.failures)
    return report


def _raise_for_failures(failures: list[tuple[Tile, CohcubeError]]) -> None:
    """After every other tile ran: the first failure, as its own kind of error, naming the tile."""
    if not failures:
        return
    tile, error = failures[0]
    message = str(error) if str(error).startswith(f"tile {tile.id}") else f"tile {tile.id}: {error}"
    more = f" (and {len(failures) - 1} more tile(s) failed)" if len(failures) > 1 else ""
    raise type(error)(
        f"{message}{more}; every other tile ran to the end -- fix the cause and re-run to retry "
        "only what is missing"
    )


def _process_tile(
    config: ProcessConfig,
    tile: Tile,
    scenes: SceneIndex,
    bands: tuple[str, ...],
    model: ChosenModel,
    layout: StoreLayout,
    store: str,
    prepare: Callable[[], ChosenModel],
    on_region: RegionCallback | None = None,
    signer: Signer | None = None,
) -> TileReport:
    tile_report = TileReport(tile=tile.id)
    # The tile plus the model's halo of neighbouring ground: edge pixels are seam-free.
    margin = model.halo_px
    mine, tile_report.scenes = scenes.of_tile(tile, margin)
    if not mine:
        tile_report.status = "no scenes"
        return tile_report
    if signer is not None:
        mine = [signer(item) for item in mine]
    cube, pairs = stack_pairs(
        mine,
        bands,
        model,
        config.pairs,
        grid=tile.grid.expanded(margin),
        margin_px=margin,
        chunk_px=layout.shard_px,
        grd=config.grd,
        catalog=config.catalog,
    )
    tile_report.acquisitions = int(cube.sizes["time"])
    url = tile_url(store, tile.id)
    held = committed_pairs(url)
    todo = pairs[~pairs["pair_id"].isin(held)]
    tile_report.pairs_held = len(held)
    if todo.empty:
        tile_report.status = "up to date" if len(pairs) else "no pairs"
        return tile_report
    written = infer_into_cube(
        cube,
        todo,
        prepare(),
        url,
        layout,
        attrs={"input_collection": config.collection, "tile": tile.id},
        precision=config.precision,
        margin_px=margin,
        where=f"tile {tile.id}: ",
        on_region=on_region,
    )
    tile_report.pairs_added = list(written.new_pairs)
    tile_report.regions_computed = written.regions_computed
    tile_report.regions_total = written.regions_total
    tile_report.pairs_held = len(held) + len(written.new_pairs)
    log.info(
        "tile %s: %d new pairs (%d held)", tile.id, len(written.new_pairs), tile_report.pairs_held
    )
    return tile_report
