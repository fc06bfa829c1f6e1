"""The demo job: the full regional pipeline on the embedded sample, scored against the truth.

Builds (or reuses) the sample catalog, searches it, stacks a cube, pairs each
acquisition with its 12-day predecessor, runs inference on a local Dask
cluster into a Zarr coherence cube, compares the model and the
intensity-correlation baseline with the simulator's true coherence, and
scores change detection on the cube against the simulated change events.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from cohcube.model import intensity_coherence, linear_to_db
from cohcube.model.artefact import SHIPPED_CARD, card_path_for, read_card
from cohcube.pipeline.change_scoring import score_changes
from cohcube.pipeline.changes import detect_changes
from cohcube.pipeline.clusters import dask_client
from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.cube_stac import write_cube_catalog
from cohcube.pipeline.inference import predict_coherence
from cohcube.pipeline.pairs import select_pairs
from cohcube.pipeline.sample_catalog import (
    SampleCatalog,
    SampleSpec,
    default_sample_catalog,
    truth_for_pairs,
)
from cohcube.pipeline.sample_truth import read_change_truth
from cohcube.pipeline.search import SceneQuery, search_scenes
from cohcube.pipeline.store import StoreLayout, open_coherence_cube, write_coherence

from .quicklook import write_quicklook

log = logging.getLogger(__name__)

DEFAULT_INTENSITY_WINDOW_PX = 9


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced."""

    summary: dict[str, Any]
    summary_path: Path


def _rmse(estimates: list[NDArray[np.float32]], truths: list[NDArray[np.float32]]) -> float:
    errors = []
    for estimate, truth in zip(estimates, truths, strict=True):
        valid = np.isfinite(estimate) & np.isfinite(truth)
        errors.append((estimate[valid] - truth[valid]).astype(np.float64) ** 2)
    return float(np.sqrt(np.mean(np.concatenate(errors))))


def _intensity_window(card: dict[str, Any]) -> int:
    metrics = card.get("metrics") or {}
    return int(metrics.get("intensity_window_px", DEFAULT_INTENSITY_WINDOW_PX))


def run_demo(
    out_dir: Path,
    *,
    model: Path | None = None,
    sample: SampleSpec | None = None,
    cluster: str = "local",
    n_workers: int | None = None,
) -> DemoResult:
    """Run the demo job and write ``coherence.zarr``, ``quicklook.png``, ``summary.json``.

    Args:
        out_dir: output folder (created); an existing cube there is extended, not replaced.
        model: model card or TorchScript file (default: the shipped model).
        sample: sample catalog spec (default: the embedded 2048 x 2048 px sample).
        cluster: ``local``, ``cuda`` or a scheduler address.
        n_workers: local workers (default: one per core).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    catalog = SampleCatalog(default_sample_catalog(sample).parents[1])
    timings["sample_catalog_s"] = time.perf_counter() - start
    card_path = card_path_for(model) if model is not None else SHIPPED_CARD
    card = read_card(card_path)
    layout = StoreLayout()
    step = time.perf_counter()
    scenes = search_scenes(catalog.items, SceneQuery())
    cube = build_cube(
        scenes,
        bands=("vv", "vh"),
        size_multiple=int(card["input"]["size_multiple"]),
        chunk_px=layout.shard_px,
    )
    pairs = select_pairs(cube, (12,))
    timings["search_and_cube_s"] = time.perf_counter() - step
    log.info(
        "%d scenes -> %d acquisitions -> %d 12-day pairs",
        len(scenes),
        cube.sizes["time"],
        len(pairs),
    )
    store = out_dir / "coherence.zarr"
    step = time.perf_counter()
    with dask_client(cluster, n_workers=n_workers):
        lazy = predict_coherence(
            cube,
            pairs,
            card_path,
            chunk=layout.shard_px,
            pair_batch=2,
            attrs={"input_collection": "sentinel-1-rtc (cohcube sample)"},
        )
        report = write_coherence(lazy, store, layout)
    timings["inference_and_write_s"] = time.perf_counter() - step
    written = open_coherence_cube(store)
    stac = write_cube_catalog(
        str(store),
        {"coherence": (written, str(store))},
        "InSAR coherence of the cohcube sample's 12-day pairs, written by cohcube demo",
    )
    result = written.sel(pair=list(pairs["pair_id"]))
    step = time.perf_counter()
    truths = truth_for_pairs(catalog, result.reference_time.values, result.secondary_time.values)
    model_maps, baseline_maps, truth_maps = [], [], []
    window = _intensity_window(card)
    for k, row in enumerate(pairs.itertuples()):
        truth = truths[k]
        if truth is None:
            continue
        reference = cube.isel(time=row.reference_index).sel(band="VV").values
        secondary = cube.isel(time=row.secondary_index).sel(band="VV").values
        model_maps.append(result.coherence.isel(pair=k).values)
        baseline_maps.append(intensity_coherence(reference, secondary, window))
        truth_maps.append(truth)
    true_coherence = None
    if all(t is not None for t in truths):
        true_coherence = xr.DataArray(
            np.stack([t for t in truths if t is not None]),
            dims=("pair", "y", "x"),
            coords={
                "reference_time": ("pair", result["reference_time"].values),
                "secondary_time": ("pair", result["secondary_time"].values),
            },
        )
    changes = score_changes(
        detect_changes(result).compute(), read_change_truth(catalog), true_coherence=true_coherence
    )
    timings["scoring_s"] = time.perf_counter() - step
    latest = pairs.iloc[-1]
    last_truth = truths[-1] if truths[-1] is not None else np.zeros(cube.shape[2:])
    points = _points(last_truth)
    write_quicklook(
        out_dir / "quicklook.png",
        result,
        linear_to_db(cube.isel(time=int(latest.reference_index)).sel(band="VV").values),
        linear_to_db(cube.isel(time=int(latest.secondary_index)).sel(band="VV").values),
        points,
    )
    pixels = len(report.new_pairs) * cube.sizes["y"] * cube.sizes["x"]
    summary: dict[str, Any] = {
        "pairs_processed": len(report.new_pairs),
        "pairs_already_in_cube": len(report.skipped_pairs),
        "pairs_in_cube": int(result.sizes["pair"]),
        "grid_px": [int(cube.sizes["y"]), int(cube.sizes["x"])],
        "pixels_per_second": round(pixels / timings["inference_and_write_s"], 1) if pixels else 0,
        "model": {"name": card["name"], "sha256": card["artefact"]["sha256"]},
        "rmse_vs_true_coherence": {
            "model": round(_rmse(model_maps, truth_maps), 4),
            f"intensity_coherence_{window}px": round(_rmse(baseline_maps, truth_maps), 4),
        },
        "pairs_scored": len(truth_maps),
        "change_detection": {
            "events": changes["events"],
            "detection_rate": round(changes["detection_rate"], 3),
            "observable_detection_rate": round(changes["observable_detection_rate"], 3),
            "false_alarm_rate": round(changes["false_alarm_rate"], 4),
        },
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "total_s": round(time.perf_counter() - start, 1),
        "outputs": {
            "cube": str(store),
            "stac": stac,
            "quicklook": str(out_dir / "quicklook.png"),
        },
    }
    path = out_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("wrote %s", path)
    return DemoResult(summary=summary, summary_path=path)


def _points(truth: NDArray[np.floating]) -> list[tuple[str, int, int]]:
    """Pixels of stable, partly coherent and incoherent ground, from the true coherence.

    Each is the pixel nearest its target coherence around its own anchor (left,
    centre, right of the image), so the three markers do not overlap.
    """
    h, w = truth.shape
    rows, cols = np.mgrid[0:h, 0:w]
    picks = []
    targets = (("stable", 0.85), ("partly coherent", 0.45), ("incoherent", 0.05))
    for k, (label, target) in enumerate(targets):
        anchor_row, anchor_col = h / 2, w * (k + 1) / 4
        distance = np.hypot(rows - anchor_row, cols - anchor_col) / max(h, w)
        score = np.where(np.isfinite(truth), np.abs(truth - target) + 0.05 * distance, np.inf)
        row, col = np.unravel_index(int(np.argmin(score)), truth.shape)
        picks.append((label, int(row), int(col)))
    return picks
