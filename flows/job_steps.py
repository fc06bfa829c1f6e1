"""The steps every coherence job is made of, shared by ``cohcube process`` and ``cohcube demo``.

1. ``choose_model``: the model card, checked against what the job will feed it;
2. ``stack_pairs``: scenes -> lazy backscatter cube on the job's grid -> pairs;
3. ``infer_into_cube``: lazy inference (``predict_coherence``) written into a
   Zarr coherence cube with the store's guarantees (``write_coherence``);
4. ``publish_catalog``: the static STAC catalog describing the cubes.

The regional job runs 2-3 per tile of its tile set; the demo runs them once
over the sample, into a single cube. Neither re-implements them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pystac
import xarray as xr
from rasterio.warp import transform_bounds

from cohcube.model.errors import ConfigError, InputDataError
from cohcube.model.learning.card import ModelCard, card_path_for, read_card
from cohcube.pipeline.asset_policy import redacted_message
from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.errors import AssetReadError
from cohcube.pipeline.grd.terrain import find_dem
from cohcube.pipeline.grid import CubeGrid
from cohcube.pipeline.inference import predict_coherence
from cohcube.pipeline.pairs import select_pairs
from cohcube.pipeline.store.cube_stac import write_cube_catalog
from cohcube.pipeline.store.regions import RegionCallback
from cohcube.pipeline.store.zarr_cube import (
    StoreLayout,
    WriteReport,
    open_coherence_cube,
    write_coherence,
)
from cohcube.pipeline.worker_model import pair_batch_for

from .job_config import GrdConfig, PairConfig


@dataclass(frozen=True)
class ChosenModel:
    """The model a job runs: its card's path and the parsed card; once the workers have
    loaded it, where they read it (a path or URL), the precision they run at and the Dask
    client they are on (``workers``: the job's regions are computed there and nowhere else,
    so a tile still running after Ctrl-C closed the cluster stops instead of falling back
    to computing in the driver)."""

    card_path: Path
    card: ModelCard
    workers_read: str | None = None
    precision_label: str | None = None
    workers: Any = None
    #: Pairs per block on these workers (``pair_batch_for``; None: asked when needed).
    pair_batch: int | None = None

    @property
    def size_multiple(self) -> int:
        return self.card.input.size_multiple

    @property
    def halo_px(self) -> int:
        """The card's recommended halo rounded up to the size multiple, px: the margin of
        neighbouring ground a tile reads so its edge pixels are seam-free."""
        multiple = self.size_multiple
        return -(-self.card.tiling.recommended_halo_px // multiple) * multiple


def choose_model(
    model: Path | None,
    *,
    polarizations: Sequence[str] | None = None,
    tile_px: int | None = None,
) -> ChosenModel:
    """Read the card of ``model`` (default: the shipped one) and check the job can feed it.

    Args:
        model: card or ``.pt`` path, or None for the shipped model.
        polarizations: bands the job stacks; must cover the model's.
        tile_px: the job's tile side; must be a multiple of the model's size multiple.

    Raises:
        ModelArtefactError: the card is missing or unusable.
        InputDataError: the job's bands or tiles do not fit the model.
    """
    card_path = card_path_for(model)
    card = read_card(model if model is not None else card_path)
    multiple = card.input.size_multiple
    if tile_px is not None and tile_px % multiple:
        raise InputDataError(
            f"grid.tile_px {tile_px} must be a multiple of the model's size multiple {multiple}"
        )
    if polarizations is not None:
        missing = [p for p in card.input.polarizations if p not in polarizations]
        if missing:
            raise InputDataError(
                f"polarizations {list(polarizations)} lack {missing}, which the model "
                f"{card.name} needs; add them to the config"
            )
    return ChosenModel(card_path, card)


def stack_backscatter(
    scenes: Sequence[pystac.Item],
    bands: Sequence[str],
    *,
    size_multiple: int,
    chunk_px: int,
    grid: CubeGrid | None = None,
    margin_px: int = 0,
    grd: GrdConfig | None = None,
    catalog: str | None = None,
) -> xr.DataArray:
    """The lazy backscatter cube of ``scenes`` on ``grid`` (``build_cube``).

    ``margin_px``: the outer ring of ``grid`` is context (``build_cube``).

    Level-1 GRD scenes are calibrated and geocoded as ``grd`` says (default: thermal
    noise removed, ellipsoid geocoding; ``terrain: dem`` searches the DEM in
    ``grd.dem_catalog`` or ``catalog`` over the grid).
    """
    grd = grd or GrdConfig()
    dem = None
    if grd.terrain == "dem":
        source = grd.dem_catalog or catalog
        if source is None or grid is None:
            raise ConfigError(
                "grd.terrain: dem needs a DEM catalog (grd.dem_catalog or the job's catalog) "
                "and an output grid"
            )
        bbox = transform_bounds(f"EPSG:{grid.epsg}", "EPSG:4326", *grid.bounds)
        dem = find_dem(source, bbox, grd.dem_collection, grd.dem_asset)
    return build_cube(
        scenes,
        bands,
        grid=grid,
        size_multiple=size_multiple,
        chunk_px=chunk_px,
        margin_px=margin_px,
        thermal_noise=grd.thermal_noise,
        border_noise=grd.border_noise,
        dem=dem,
        geoid_offset_m=grd.geoid_offset_m,
    )


def stack_pairs(
    scenes: Sequence[pystac.Item],
    bands: Sequence[str],
    model: ChosenModel,
    pairs: PairConfig,
    *,
    chunk_px: int,
    grid: CubeGrid | None = None,
    margin_px: int = 0,
    grd: GrdConfig | None = None,
    catalog: str | None = None,
) -> tuple[xr.DataArray, pd.DataFrame]:
    """The lazy backscatter cube of ``scenes`` on ``grid`` (``stack_backscatter``) and its
    pairs under ``pairs``."""
    cube = stack_backscatter(
        scenes,
        bands,
        size_multiple=model.size_multiple,
        chunk_px=chunk_px,
        grid=grid,
        margin_px=margin_px,
        grd=grd,
        catalog=catalog,
    )
    table = select_pairs(
        cube,
        pairs.baselines_days,
        tolerance_days=pairs.tolerance_days,
        policy=pairs.policy,
        max_baseline_days=pairs.max_baseline_days,
    )
    return cube, table


def infer_into_cube(
    cube: xr.DataArray,
    pairs: pd.DataFrame,
    model: ChosenModel,
    url: str,
    layout: StoreLayout,
    *,
    attrs: dict[str, Any],
    precision: str = "fp32",
    margin_px: int = 0,
    where: str = "",
    on_region: RegionCallback | None = None,
) -> WriteReport:
    """Infer ``pairs`` and add them to the cube at ``url`` (resumable; whole pairs only);
    the outer ``margin_px`` of ``cube`` is context only (``predict_coherence``). Pairs per
    block: ``model.pair_batch``, else what its workers' devices call for (``pair_batch_for``).

    Raises:
        AssetReadError: an asset could not be read (``where`` names the tile);
            no pair of the batch was marked complete.
    """
    lazy = predict_coherence(
        cube,
        pairs,
        model.card_path,
        chunk=layout.shard_px,
        pair_batch=model.pair_batch or pair_batch_for(model.workers),
        precision=precision,
        margin_px=margin_px,
        attrs=attrs,
        workers_read=model.workers_read,
        precision_label=model.precision_label,
    )
    try:
        return write_coherence(lazy, url, layout, on_region, client=model.workers)
    except Exception as exc:
        # stackstac's reader error; Dask may hand it back wrapped in a plain Exception.
        found = re.search(r"Error (opening|reading) [^\n]*?'\)", str(exc))
        if found is None:
            raise
        raise AssetReadError(
            f"{where}{redacted_message(found.group(0))}; no pair of this run was marked "
            "complete -- re-run to resume, or set on_unreadable: skip to leave such scenes out"
        ) from None


def publish_catalog(store: str, cubes: dict[str, str], description: str) -> str:
    """Write the STAC catalog of ``cubes`` (Item id -> cube location) beside ``store``."""
    opened = {item_id: (open_coherence_cube(url), url) for item_id, url in cubes.items()}
    return write_cube_catalog(store, opened, description)
