"""Decorrelation terms: limits and shapes of the design's formulas."""

from __future__ import annotations

import numpy as np
import pytest

from cohcube.model import db_to_linear, linear_to_db, temporal_coherence, thermal_coherence


def test_temporal_coherence_limits() -> None:
    assert temporal_coherence(0.0, 0.3, 10.0) == pytest.approx(1.0)
    assert temporal_coherence(1e6, 0.3, 10.0) == pytest.approx(0.3)
    assert temporal_coherence(10.0, 0.0, 10.0) == pytest.approx(np.exp(-1.0))
    assert temporal_coherence(-12.0, 0.5, 6.0) == temporal_coherence(12.0, 0.5, 6.0)
    series = temporal_coherence(np.array([6.0, 12.0, 24.0, 36.0]), 0.1, 8.0)
    assert np.all(np.diff(series) < 0)


def test_thermal_coherence_formula() -> None:
    nesz = -22.0
    assert thermal_coherence(db_to_linear(nesz), db_to_linear(nesz), nesz) == pytest.approx(0.5)
    snr1, snr2 = 3.0, 10.0
    expected = 1 / np.sqrt((1 + 1 / snr1) * (1 + 1 / snr2))
    value = thermal_coherence(snr1 * db_to_linear(nesz), snr2 * db_to_linear(nesz), nesz)
    assert value == pytest.approx(expected)
    assert thermal_coherence(0.0, 1.0) == 0.0
    assert thermal_coherence(1e6, 1e6) == pytest.approx(1.0, abs=1e-6)


def test_db_round_trip() -> None:
    values = np.array([-25.0, -10.0, 0.0, 3.0])
    np.testing.assert_allclose(linear_to_db(db_to_linear(values)), values)
    assert np.isneginf(linear_to_db(0.0))
