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
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import NDArray

from cohcube.model.learning.card import ModelCard
from cohcube.model.physics.estimators import intensity_coherence
from cohcube.model.physics.radiometry import linear_to_db
from cohcube.pipeline.changes import detect_changes
from cohcube.pipeline.clusters import dask_client
from cohcube.pipeline.grid import CubeGrid
from cohcube.pipeline.sample import (
    SampleCatalog,
    SampleSpec,
    default_sample_catalog,
    read_change_truth,
    score_changes,
    true_backscatter,
    truth_for_pairs,
)
from cohcube.pipeline.search import SceneQuery, search_scenes
from cohcube.pipeline.store.zarr_cube import StoreLayout, WriteReport, open_coherence_cube
from cohcube.pipeline.worker_model import pair_batch_for, warm_workers

from .job_config import PairConfig
from .job_steps import (
    ChosenModel,
    choose_model,
    infer_into_cube,
    publish_catalog,
    stack_pairs,
)
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


def _intensity_window(card: ModelCard) -> int:
    metrics = card.metrics or {}
    return int(metrics.get("intensity_window_px", DEFAULT_INTENSITY_WINDOW_PX))


def _summary(
    report: WriteReport,
    result: xr.Dataset,
    cube: xr.DataArray,
    chosen: ChosenModel,
    scores: _DemoScores,
    timings: dict[str, float],
    start: float,
    precision: str,
) -> dict[str, Any]:
    """What ``summary.json`` says of the run (outputs added by the caller); ``precision``:
    what the workers computed in."""
    pixels = len(report.new_pairs) * cube.sizes["y"] * cube.sizes["x"]
    return {
        "pairs_processed": len(report.new_pairs),
        "pairs_already_in_cube": len(report.skipped_pairs),
        "pairs_in_cube": int(result.sizes["pair"]),
        "grid_px": [int(cube.sizes["y"]), int(cube.sizes["x"])],
        "pixels_per_second": round(pixels / timings["inference_and_write_s"], 1) if pixels else 0,
        "model": {"name": chosen.card.name, "sha256": chosen.card.artefact.sha256},
        "precision": precision,
        "rmse_vs_true_coherence": scores.rmse,
        "pairs_scored": scores.pairs_scored,
        "change_detection": scores.changes,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "total_s": round(time.perf_counter() - start, 1),
    }


def _sample_grid(spec: SampleSpec) -> CubeGrid:
    """The sample's map grid (GRD scenes' footprints are rotated radar swaths, wider than it)."""
    left, top = spec.origin
    side = spec.size_px * spec.pixel_m
    return CubeGrid(spec.epsg, spec.pixel_m, (left, top - side, left + side, top))


def run_demo(
    out_dir: Path,
    *,
    model: Path | None = None,
    sample: SampleSpec | None = None,
    cluster: str = "local",
    n_workers: int | None = None,
    precision: str = "auto",
) -> DemoResult:
    """Run the demo job and write ``coherence.zarr``, ``quicklook.png``, ``summary.json``.

    Args:
        out_dir: output folder (created); an existing cube there is extended, not replaced.
        model: model card or TorchScript file (default: the shipped model).
        sample: sample catalog spec (default: the embedded 2048 x 2048 px sample).
        cluster: ``local``, ``cuda`` or a scheduler address.
        n_workers: local workers (default: one per core).
        precision: inference precision (``auto``: what the workers' hardware runs natively).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    catalog = SampleCatalog(
        default_sample_catalog(sample).parents[1], sample.source if sample else "rtc"
    )
    timings["sample_catalog_s"] = time.perf_counter() - start
    chosen = choose_model(model)
    layout = StoreLayout()
    step = time.perf_counter()
    collection = catalog.collection_id
    scenes = search_scenes(catalog.items, SceneQuery(collection=collection))
    cube, pairs = stack_pairs(
        scenes,
        ("vv", "vh"),
        chosen,
        PairConfig(),
        chunk_px=layout.shard_px,
        grid=_sample_grid(sample or SampleSpec()),
    )
    timings["search_and_cube_s"] = time.perf_counter() - step
    log.info(
        "%d scenes -> %d acquisitions -> %d pairs", len(scenes), cube.sizes["time"], len(pairs)
    )
    store = out_dir / "coherence.zarr"
    step = time.perf_counter()
    with dask_client(cluster, n_workers=n_workers) as client:
        in_use = warm_workers(client, chosen.card_path, chosen.card.artefact.sha256, precision)
        report = infer_into_cube(
            cube,
            pairs,
            replace(chosen, pair_batch=pair_batch_for(client)),
            str(store),
            layout,
            attrs={"input_collection": f"{collection} (cohcube sample)"},
            precision=precision,
        )
    timings["inference_and_write_s"] = time.perf_counter() - step
    stac = publish_catalog(
        str(store),
        {"coherence": str(store)},
        "InSAR coherence of the cohcube sample's 12-day pairs, written by cohcube demo",
    )
    result = open_coherence_cube(store).sel(pair=list(pairs["pair_id"]))
    step = time.perf_counter()
    # Read once: the baseline, the change detector and the quicklook share it.
    backscatter = cube.compute()
    vv = backscatter.sel(band="VV").values
    scores = _scores(catalog, vv, pairs, result, _intensity_window(chosen.card), backscatter)
    timings["scoring_s"] = time.perf_counter() - step
    _write_demo_quicklook(out_dir / "quicklook.png", vv, pairs, result, scores.last_truth)
    summary = _summary(report, result, cube, chosen, scores, timings, start, in_use)
    summary["outputs"] = {
        "cube": str(store),
        "stac": stac,
        "quicklook": str(out_dir / "quicklook.png"),
    }
    path = out_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("wrote %s", path)
    return DemoResult(summary=summary, summary_path=path)


@dataclass(frozen=True)
class _DemoScores:
    rmse: dict[str, float]
    pairs_scored: int
    changes: dict[str, Any]
    last_truth: NDArray[np.float32]


def _scores(
    catalog: SampleCatalog,
    vv: NDArray[np.float32],
    pairs: pd.DataFrame,
    result: xr.Dataset,
    window: int,
    backscatter: xr.DataArray,
) -> _DemoScores:
    """RMSE of the model and the intensity baseline vs the true coherence; change detection.

    ``backscatter``: the cube read into memory, the change detector's second evidence;
    ``vv``: its VV band, ``(time, y, x)``, which the baseline and the quicklook share.
    """
    truths = truth_for_pairs(catalog, result.reference_time.values, result.secondary_time.values)
    scored = [(k, row) for k, row in enumerate(pairs.itertuples()) if truths[k] is not None]
    model_maps = [result.coherence.isel(pair=k).values for k, _ in scored]
    truth_maps = [t for t in truths if t is not None]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # NumPy/SciPy release the GIL
        baseline_maps = list(
            pool.map(
                lambda kr: intensity_coherence(
                    vv[kr[1].reference_index], vv[kr[1].secondary_index], window
                ),
                scored,
            )
        )
    truth_stack = None
    if all(t is not None for t in truths):
        truth_stack = np.stack([t for t in truths if t is not None])
    changes = _change_scores(catalog, result, backscatter, truth_stack)
    last = truths[-1]
    return _DemoScores(
        rmse={
            "model": round(_rmse(model_maps, truth_maps), 4),
            f"intensity_coherence_{window}px": round(_rmse(baseline_maps, truth_maps), 4),
        },
        pairs_scored=len(truth_maps),
        changes=changes,
        last_truth=last if last is not None else np.zeros(vv.shape[1:], np.float32),
    )


def _change_summary(score: dict[str, Any]) -> dict[str, Any]:
    return {
        "detection_rate": round(score["detection_rate"], 3),
        "dated_at_peak_rate": round(score["dated_at_peak_rate"], 3),
        "false_alarm_rate": round(score["false_alarm_rate"], 4),
        "detection_by_kind": {k: v["rate"] for k, v in score["detection_by_kind"].items()},
    }


def _change_scores(
    catalog: SampleCatalog,
    result: xr.Dataset,
    backscatter: xr.DataArray,
    truth_stack: NDArray[np.float32] | None,
) -> dict[str, Any]:
    """Change detection on the model's coherence with the backscatter, on the coherence alone,
    and (the ceiling) on the simulator's true coherence and noise-free backscatter."""
    truth = read_change_truth(catalog)
    true_coherence = None
    if truth_stack is not None:
        true_coherence = xr.DataArray(
            truth_stack,
            dims=("pair", "y", "x"),
            coords={
                "reference_time": ("pair", result["reference_time"].values),
                "secondary_time": ("pair", result["secondary_time"].values),
            },
        )
    both = score_changes(
        detect_changes(result, backscatter).compute(), truth, true_coherence=true_coherence
    )
    alone = score_changes(detect_changes(result).compute(), truth)
    summary: dict[str, Any] = {
        "events": both["events"],
        "evidence": "coherence + VV/VH backscatter",
        **_change_summary(both),
        "coherence_only": _change_summary(alone),
    }
    if true_coherence is not None:
        summary["observable_detection_rate"] = round(both["observable_detection_rate"], 3)
        ceiling_cube = result[["coherence"]].assign(
            coherence=(("pair", "y", "x"), true_coherence.values)
        )
        ceiling = detect_changes(ceiling_cube, true_backscatter(catalog)).compute()
        summary["ceiling_true_coherence_and_backscatter"] = _change_summary(
            score_changes(ceiling, truth)
        )
    return summary


def _write_demo_quicklook(
    path: Path,
    vv: NDArray[np.float32],
    pairs: pd.DataFrame,
    result: xr.Dataset,
    last_truth: NDArray[np.float32],
) -> None:
    """The latest pair's maps and the time series of three kinds of ground."""
    latest = pairs.iloc[-1]
    write_quicklook(
        path,
        result,
        linear_to_db(vv[int(latest.reference_index)]),
        linear_to_db(vv[int(latest.secondary_index)]),
        _points(last_truth),
    )


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
