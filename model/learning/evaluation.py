"""Accuracy of a coherence model on held-out simulated scenes, against a classical baseline.

For each temporal baseline, test scenes (a split never used in training) are
simulated; the model and the intensity-correlation estimator (window chosen on
validation scenes) are scored against the SLC sample-coherence target and the
true coherence, with uncertainty calibration and a per-class breakdown.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cohcube.model.physics.estimators import intensity_coherence
from cohcube.model.physics.landcover import LandCover
from cohcube.model.physics.radiometry import db_to_linear

from .artefact import CoherenceModel
from .card import ONE_SIGMA
from .coherence_map import CoherenceMap, fit_coherence_map
from .config import DataConfig
from .training_data import PatchSet, SceneKind, simulate_patches

log = logging.getLogger(__name__)

BASELINE_WINDOWS = (5, 7, 9, 11)


def scores(estimate: NDArray[np.floating], reference: NDArray[np.floating]) -> dict[str, float]:
    """RMSE, MAE, bias (mean of estimate - reference) and R^2 over finite pixels."""
    valid = np.isfinite(estimate) & np.isfinite(reference)
    e = estimate[valid].astype(np.float64)
    r = reference[valid].astype(np.float64)
    error = e - r
    total = float(np.sum((r - r.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "bias": float(np.mean(error)),
        "r2": 1.0 - float(np.sum(error**2)) / total if total > 0 else float("nan"),
    }


def _linear(patches: PatchSet) -> NDArray[np.float32]:
    return db_to_linear(patches.backscatter_db, np.float32)


def baseline_maps(patches: PatchSet, window: int) -> NDArray[np.float32]:
    """The intensity-correlation estimate of every patch, ``(N, P, P)`` (NaN where no data)."""
    linear = _linear(patches)
    return np.stack([intensity_coherence(s[0], s[1], window) for s in linear])


def model_maps(
    model: CoherenceModel, patches: PatchSet, baseline_days: float | None = None
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The model's coherence and sigma of every patch, each ``(N, P, P)``."""
    linear = _linear(patches)
    pols = [p for p in ("VV", "VH") if p in model.contract.polarizations]
    channel = {"VV": 0, "VH": 2}
    coherence, sigma = [], []
    for scene in linear:
        t1 = np.stack([scene[channel[p]] for p in pols])
        t2 = np.stack([scene[channel[p] + 1] for p in pols])
        c, s = model.predict(t1, t2, baseline_days)
        coherence.append(c)
        sigma.append(s)
    return np.stack(coherence), np.stack(sigma)


def _whole_scenes(
    data: DataConfig,
    split: str,
    n_scenes: int,
    seed: int,
    baseline_days: float,
    scenes: SceneKind = "standard",
) -> PatchSet:
    """``n_scenes`` scenes of ``split``, each one whole patch (scoring needs no cutting)."""
    whole = data.model_copy(update={"patch_px": data.scene_px})
    return simulate_patches(
        whole, split, n_scenes, seed, baseline_days=baseline_days, scenes=scenes
    )


def calibrate_baselines(
    model: CoherenceModel,
    data: DataConfig,
    seed: int,
    *,
    baselines_days: Sequence[float] = (6.0, 12.0, 24.0, 36.0),
    scenes: int = 40,
    coherence_maps: bool = True,
) -> tuple[dict[str, float], dict[str, CoherenceMap]]:
    """Per-baseline coherence maps and factors on sigma, measured on validation scenes.

    For each baseline, ``scenes`` validation scenes (never the test scenes
    ``evaluate`` scores) give the monotone map from the predicted to the mean
    true coherence (``fit_coherence_map``; skipped with ``coherence_maps=False``),
    then the factor that makes ``|true - mapped coherence| <= factor x sigma``
    hold for 68.27 % of their pixels. Returns ``({days: factor}, {days: map})``
    with days as strings (the card's JSON keys).
    """
    factors, maps = {}, {}
    for days in baselines_days:
        key = f"{days:g}"
        validation = _whole_scenes(data, "validation", scenes, seed, days)
        # The artefact's own output: any maps or factors the card holds now are refitted.
        coherence, sigma = model_maps(model, validation)
        if coherence_maps:
            maps[key] = fit_coherence_map(coherence, validation.truth)
            coherence = maps[key](coherence)
        ratio = np.abs(validation.truth - coherence) / sigma
        factors[key] = float(np.quantile(ratio[np.isfinite(ratio)], ONE_SIGMA))
        log.info("sigma factor at %g days: %.3f", days, factors[key])
    return factors, maps


def choose_baseline_window(
    validation: PatchSet, windows: Sequence[int] = BASELINE_WINDOWS
) -> tuple[int, dict[int, float]]:
    """Window of ``intensity_coherence`` with the lowest RMSE vs the true coherence."""
    rmse = {w: scores(baseline_maps(validation, w), validation.truth)["rmse"] for w in windows}
    return min(rmse, key=lambda w: rmse[w]), rmse


def evaluate(
    model: CoherenceModel,
    data: DataConfig,
    seed: int,
    *,
    baselines_days: Sequence[float] = (6.0, 12.0, 24.0, 36.0),
    test_scenes: int = 40,
    validation_scenes: int = 20,
    scenes: SceneKind = "standard",
) -> dict[str, Any]:
    """Score ``model`` and the intensity baseline on held-out scenes.

    Args:
        model: the loaded artefact.
        data: scene settings (size, misregistration, changes) — normally the
            model's training data settings; patches are whole scenes here.
        seed: run seed (test scenes are its ``test`` split).
        baselines_days: temporal baselines to test.
        test_scenes: scenes per baseline.
        validation_scenes: 12-day validation scenes that pick the baseline window.
        scenes: ``standard`` (the training simulator's statistics) or ``alt``
            (``physics.alt_scenes``: ground no model was trained on); the baseline
            window is picked on validation scenes of the same kind.

    Returns:
        A JSON-ready report.
    """
    validation = _whole_scenes(
        data, "validation", validation_scenes, seed, data.baseline_days, scenes
    )
    window, window_rmse = choose_baseline_window(validation)
    log.info(
        "intensity baseline window: %d px (validation RMSE %s)",
        window,
        {k: round(v, 4) for k, v in window_rmse.items()},
    )
    results = []
    for days in baselines_days:
        test = _whole_scenes(data, "test", test_scenes, seed, days, scenes)
        coherence, sigma = model_maps(model, test, days)
        baseline = baseline_maps(test, window)
        entry: dict[str, Any] = {"baseline_days": float(days), "pixels": int(test.truth.size)}
        for name, estimate in (("model", coherence), ("intensity", baseline)):
            entry[name] = {
                "vs_target": scores(estimate, test.target),
                "vs_truth": scores(estimate, test.truth),
            }
        inside = np.abs(test.truth - coherence) <= sigma
        # A model without a calibrated sigma (an imported one) has none to score.
        has_sigma = bool(np.isfinite(sigma).any())
        within_2 = np.abs(test.truth - coherence) <= 2 * sigma
        entry["calibration_1sigma"] = float(np.mean(inside)) if has_sigma else None
        entry["calibration_2sigma"] = float(np.mean(within_2)) if has_sigma else None
        per_class = {}
        for cls in LandCover:
            mask = test.land_cover == cls
            if mask.sum() < 100:
                continue
            per_class[cls.name.lower()] = {
                "fraction": float(mask.mean()),
                "true_mean": float(test.truth[mask].mean()),
                "model_rmse": scores(coherence[mask], test.truth[mask])["rmse"],
                "intensity_rmse": scores(baseline[mask], test.truth[mask])["rmse"],
            }
        if test.changed.any():
            per_class["changed"] = {
                "fraction": float(test.changed.mean()),
                "true_mean": float(test.truth[test.changed].mean()),
                "model_rmse": scores(coherence[test.changed], test.truth[test.changed])["rmse"],
                "intensity_rmse": scores(baseline[test.changed], test.truth[test.changed])["rmse"],
            }
        entry["per_class_vs_truth"] = per_class
        results.append(entry)
    return {
        "model": {"name": model.name, "sha256": model.sha256},
        "seed": seed,
        "scenes": scenes,
        "test_scenes_per_baseline": test_scenes,
        "scene_px": data.scene_px,
        "intensity_window_px": window,
        "intensity_window_validation_rmse": {str(k): v for k, v in window_rmse.items()},
        "results": results,
    }


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f}%"


def format_report(report: dict[str, Any]) -> str:
    """The report as plain-text tables."""
    lines = [
        f"model {report['model']['name']} ({report['model']['sha256'][:12]}), "
        f"{report['test_scenes_per_baseline']} {report.get('scenes', 'standard')} test scenes "
        f"of {report['scene_px']} px per baseline, intensity baseline window "
        f"{report['intensity_window_px']} px",
        "",
        f"{'days':>4} {'estimator':<10} {'reference':<7} {'RMSE':>6} {'MAE':>6} {'bias':>7} "
        f"{'R2':>6}",
    ]
    for entry in report["results"]:
        for name in ("model", "intensity"):
            for ref in ("truth", "target"):
                s = entry[name][f"vs_{ref}"]
                lines.append(
                    f"{entry['baseline_days']:>4g} {name:<10} {ref:<7} {s['rmse']:>6.3f} "
                    f"{s['mae']:>6.3f} {s['bias']:>+7.3f} {s['r2']:>6.3f}"
                )
    lines += [
        "",
        f"{'days':>4} {'RMSE ratio model/intensity (truth)':>36} "
        f"{'|true-pred|<=sigma':>19} {'<=2sigma':>9}",
    ]
    for entry in report["results"]:
        ratio = entry["model"]["vs_truth"]["rmse"] / entry["intensity"]["vs_truth"]["rmse"]
        lines.append(
            f"{entry['baseline_days']:>4g} {ratio:>36.2f} "
            f"{_percent(entry['calibration_1sigma']):>19} "
            f"{_percent(entry['calibration_2sigma']):>9}"
        )
    lines += [
        "",
        f"{'days':>4} {'class':<10} {'share':>6} {'true':>6} {'model':>6} "
        f"{'intens.':>7}  (RMSE vs truth)",
    ]
    for entry in report["results"]:
        for cls, s in entry["per_class_vs_truth"].items():
            lines.append(
                f"{entry['baseline_days']:>4g} {cls:<10} {100 * s['fraction']:>5.1f}% "
                f"{s['true_mean']:>6.3f} {s['model_rmse']:>6.3f} "
                f"{s['intensity_rmse']:>7.3f}"
            )
    return "\n".join(lines)
