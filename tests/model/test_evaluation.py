"""Evaluation report: metrics, baseline window choice, calibration and classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cohcube.model.artefact import load_model
from cohcube.model.config import TrainingConfig
from cohcube.model.evaluation import evaluate, format_report, scores


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
