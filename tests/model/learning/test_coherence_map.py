"""The per-baseline coherence map: fitting, monotonicity, blending between baselines."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from cohcube.model.learning.coherence_map import CoherenceMap, fit_coherence_map, mapped_coherence


def test_the_fitted_map_recovers_a_known_bias() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 1, 200_000)
    # A prediction that is too high where the ground decorrelated, with noise.
    predicted = 0.3 + 0.6 * truth + rng.normal(0, 0.05, truth.size)
    fitted = fit_coherence_map(predicted, truth)
    grid = np.float32([0.4, 0.6, 0.8])
    assert fitted(grid) == pytest.approx((grid - 0.3) / 0.6, abs=0.02)
    error = fitted(predicted.astype(np.float32)) - truth
    assert np.sqrt(np.mean(error**2)) < np.sqrt(np.mean((predicted - truth) ** 2)) / 2
    assert np.all(np.diff(fitted.corrected) >= 0)


def test_nan_stays_nan_and_maps_must_be_monotone() -> None:
    one = CoherenceMap(predicted=[0.0, 1.0], corrected=[0.1, 0.9])
    out = one(np.float32([np.nan, 0.5]))
    assert np.isnan(out[0])
    assert out[1] == pytest.approx(0.5)
    with pytest.raises(ValidationError, match="non-decreasing"):
        CoherenceMap(predicted=[0.0, 1.0], corrected=[0.9, 0.1])
    with pytest.raises(ValidationError, match="two or more"):
        CoherenceMap(predicted=[0.5], corrected=[0.5])


def test_baselines_between_maps_blend_in_log_days() -> None:
    maps = {
        "6": CoherenceMap(predicted=[0.0, 1.0], corrected=[0.0, 1.0]),
        "24": CoherenceMap(predicted=[0.0, 1.0], corrected=[0.0, 0.5]),
    }
    c = np.float32([0.8])
    assert mapped_coherence(c, maps, 6.0) == pytest.approx(0.8)
    assert mapped_coherence(c, maps, 24.0) == pytest.approx(0.4)
    assert mapped_coherence(c, maps, 12.0) == pytest.approx(0.6)  # half way in log(days)
    assert mapped_coherence(c, maps, 3.0) == pytest.approx(0.8)  # nearest outside
    assert mapped_coherence(c, maps, 48.0) == pytest.approx(0.4)
    assert mapped_coherence(c, maps, None) is c
    assert mapped_coherence(c, None, 12.0) is c
    with pytest.raises(ValueError, match="positive"):
        mapped_coherence(c, maps, 0.0)


def test_a_map_fitted_to_an_inverse_relation_is_flat_not_saturated() -> None:
    """Bin means that fall are pooled to their mean (least squares), never lifted to a maximum."""
    rng = np.random.default_rng(1)
    predicted = rng.uniform(0, 1, 50_000)
    truth = 1 - predicted
    fitted = fit_coherence_map(predicted, truth)
    assert np.all(np.diff(fitted.corrected) >= 0)
    assert fitted(np.float32([0.1, 0.9])) == pytest.approx([0.5, 0.5], abs=1e-3)
