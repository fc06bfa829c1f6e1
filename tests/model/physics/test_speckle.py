"""SLC stacks: Siegert relation and the multi-date temporal coherence model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cohcube.model import (
    LandCover,
    homogeneous_scene,
    simulate_series,
    temporal_coherence,
    true_coherence,
)
from cohcube.model.physics.speckle import correlated_pair

# SLC samples farther than this from the scene edge (azimuth, range) see no margin effects.
INTERIOR = (slice(30, -30), slice(100, -100))


def _intensity_correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("gamma", [0.3, 0.6, 0.9])
@pytest.mark.parametrize("looks", [1, 4, 9])
def test_siegert_for_independent_looks(gamma: float, looks: int) -> None:
    rng = np.random.default_rng(int(gamma * 100) + looks)
    n = 200_000
    z1, z2 = correlated_pair(gamma, n * looks, rng)
    i1 = (np.abs(z1) ** 2).reshape(n, looks).mean(axis=1)
    i2 = (np.abs(z2) ** 2).reshape(n, looks).mean(axis=1)
    assert _intensity_correlation(i1, i2) == pytest.approx(gamma**2, abs=0.01)


@pytest.mark.parametrize("gamma_inf", [0.2, 0.5, 0.8])
def test_siegert_for_simulated_slc_and_grd(gamma_inf: float) -> None:
    # Bright, stable scatterers with a long tau: coherence ~ gamma_inf x thermal.
    scene = homogeneous_scene(
        (384, 384),
        sigma0_db=(0.0, -6.0),
        gamma_inf=gamma_inf,
        tau_days=0.01,
        land_cover=LandCover.URBAN,
    )
    rng = np.random.default_rng(42)
    first, second = simulate_series(scene, (0.0, 12.0), rng, keep_slc=True)
    gamma = float(true_coherence(scene, first.state, second.state, "VV", -22.0).mean())
    assert first.slc is not None
    assert second.slc is not None
    single = (np.abs(first.slc["VV"][INTERIOR]) ** 2, np.abs(second.slc["VV"][INTERIOR]) ** 2)
    assert single[0].size >= 100_000
    assert _intensity_correlation(*single) == pytest.approx(gamma**2, abs=0.01)
    # Detected (multi-looked, ENL ~4.4) intensities keep the same correlation.
    assert first.intensity[0].size >= 100_000
    assert _intensity_correlation(first.intensity[0], second.intensity[0]) == pytest.approx(
        gamma**2, abs=0.01
    )


def test_multi_date_stack_follows_the_temporal_model() -> None:
    gamma_inf, tau = 0.3, 10.0
    days = (0.0, 6.0, 12.0, 30.0)
    scene = homogeneous_scene(
        (256, 256),
        sigma0_db=(5.0, 0.0),
        gamma_inf=gamma_inf,
        tau_days=tau,
        land_cover=LandCover.URBAN,
    )
    rng = np.random.default_rng(9)
    acquisitions = list(simulate_series(scene, days, rng, keep_slc=True))
    for a, b in itertools.combinations(acquisitions, 2):
        assert a.slc is not None
        assert b.slc is not None
        s1, s2 = a.slc["VV"][INTERIOR], b.slc["VV"][INTERIOR]
        estimate = abs(np.vdot(s2, s1)) / np.sqrt(np.vdot(s1, s1).real * np.vdot(s2, s2).real)
        thermal = true_coherence(scene, a.state, b.state, "VV", -22.0).mean() / float(
            temporal_coherence(b.state.day - a.state.day, gamma_inf, tau)
        )
        expected = float(temporal_coherence(b.state.day - a.state.day, gamma_inf, tau)) * thermal
        assert estimate == pytest.approx(expected, abs=0.01), (a.state.day, b.state.day)


def test_polarisations_have_independent_speckle() -> None:
    scene = homogeneous_scene((128, 128), gamma_inf=1.0, tau_days=1e6)
    rng = np.random.default_rng(1)
    (only,) = simulate_series(scene, (0.0,), rng, polarizations=("VV", "VH"), keep_slc=True)
    assert only.slc is not None
    vv, vh = only.slc["VV"][INTERIOR], only.slc["VH"][INTERIOR]
    cross = abs(np.vdot(vh, vv)) / np.sqrt(np.vdot(vv, vv).real * np.vdot(vh, vh).real)
    assert cross < 0.02
    # Detected power is sigma0 plus the noise floor, per polarisation.
    sigma0 = 10 ** (only.state.fields.sigma0_db[0] / 10)
    expected = sigma0 + 10 ** (-22.0 / 10)
    np.testing.assert_allclose(only.intensity.mean(axis=(1, 2)), expected, rtol=0.03)


def test_unknown_polarisation_is_refused() -> None:
    scene = homogeneous_scene((32, 32))
    with pytest.raises(ValueError, match="unknown polarisation"):
        next(simulate_series(scene, (0.0,), np.random.default_rng(0), polarizations=("HH",)))
