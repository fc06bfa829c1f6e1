"""Evaluation report: metrics, baseline window choice, calibration and classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cohcube.model.learning.artefact import load_model
from cohcube.model.learning.config import TrainingConfig
from cohcube.model.learning.evaluation import calibrate_baselines, evaluate, format_report, scores
from cohcube.model.learning.training_data import simulate_patches
from cohcube.model.physics.radiometry import db_to_linear


def test_scores_on_known_values() -> None:
    reference = np.array([0.0, 0.5, 1.0, np.nan])
    estimate = np.array([0.1, 0.5, 0.9, 0.3])
    s = scores(estimate, reference)
    assert s["rmse"] == pytest.approx(np.sqrt(0.02 / 3))
    assert s["mae"] == pytest.approx(0.2 / 3)
    assert s["bias"] == pytest.approx(0.0)
    assert s["r2"] == pytest.approx(1 - 0.02 / 0.5)


def test_report_covers_baselines_estimators_and_classes(
    tiny_artefact: Path, tiny_config: TrainingConfig
) -> None:
    model = load_model(tiny_artefact)
    report = evaluate(
        model,
        tiny_config.data,
        tiny_config.seed,
        baselines_days=(6.0, 12.0),
        test_scenes=3,
        validation_scenes=2,
    )
    assert report["intensity_window_px"] in (5, 7, 9, 11)
    assert [r["baseline_days"] for r in report["results"]] == [6.0, 12.0]
    for entry in report["results"]:
        for name in ("model", "intensity"):
            for ref in ("vs_truth", "vs_target"):
                assert 0 < entry[name][ref]["rmse"] < 1
        assert 0 <= entry["calibration_1sigma"] <= entry["calibration_2sigma"] <= 1
        assert entry["per_class_vs_truth"]
    text = format_report(report)
    assert "intensity" in text
    assert "|true-pred|<=sigma" in text


def test_baseline_calibration_covers_68_percent_of_validation_pixels(
    tiny_artefact: Path, tiny_config: TrainingConfig
) -> None:
    model = load_model(tiny_artefact)
    factors, maps = calibrate_baselines(
        model, tiny_config.data, tiny_config.seed, baselines_days=(6.0, 36.0), scenes=3
    )
    assert set(factors) == set(maps) == {"6", "36"}
    assert model.card is not None
    raw = model.card
    model.card = model.card.with_baseline_calibration(factors, 3, None, maps)
    whole = tiny_config.data.model_copy(update={"patch_px": tiny_config.data.scene_px})
    for days in (6.0, 36.0):
        validation = simulate_patches(whole, "validation", 3, tiny_config.seed, baseline_days=days)
        inside, mapped = [], []
        for scene, truth in zip(validation.backscatter_db, validation.truth, strict=True):
            linear = db_to_linear(scene, np.float32)
            coherence, sigma = model.predict(linear[0], linear[1], days)
            inside.append(np.abs(truth - coherence) <= sigma)
            mapped.append(coherence - truth)
        assert np.mean(inside) == pytest.approx(0.6827, abs=0.005)
        # The map removes the mean error of the pixels it was fitted on.
        assert abs(np.nanmean(mapped)) < 0.01
    # Without a baseline, predict gives the network's own coherence (no map, no factor).
    calibrated = model.predict(linear[0], linear[1])
    model.card = raw
    assert np.array_equal(calibrated[0], model.predict(linear[0], linear[1])[0], equal_nan=True)


def _figures(report: object, at: str = "") -> dict[str, float]:
    """Every number of an evaluation report's results, by its path in the report."""
    if isinstance(report, dict):
        return {
            k: v for key, item in report.items() for k, v in _figures(item, f"{at}/{key}").items()
        }
    if isinstance(report, list):
        return {
            k: v for i, item in enumerate(report) for k, v in _figures(item, f"{at}[{i}]").items()
        }
    if isinstance(report, int | float) and not isinstance(report, bool):
        return {at: float(report)}
    return {}


def test_the_shipped_model_scores_what_its_card_records() -> None:
    """No silent accuracy regression: re-evaluating the shipped artefact on its card's
    held-out scenes (same seed and settings) reproduces every recorded figure within 0.005."""
    model = load_model()
    assert model.card is not None
    assert model.card.metrics is not None
    assert model.card.training is not None
    recorded = model.card.metrics
    trained = model.card.training.config
    assert recorded["scene_px"] == trained.data.scene_px
    report = evaluate(
        model, trained.data, recorded["seed"], test_scenes=recorded["test_scenes_per_baseline"]
    )
    assert report["intensity_window_px"] == recorded["intensity_window_px"]
    before, now = _figures(recorded["results"]), _figures(report["results"])
    assert before.keys() == now.keys()
    assert len(before) > 100  # every baseline's RMSE/MAE/bias/R2, calibration, classes
    drift = {k: abs(now[k] - before[k]) for k in before}
    worst = max(drift, key=drift.__getitem__)
    assert drift[worst] <= 0.005, f"{worst}: card {before[worst]:.4f}, now {now[worst]:.4f}"
