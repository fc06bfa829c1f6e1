"""Classical estimators: Touzi bias, Siegert relation, NaN handling and input errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special

from cohcube.model import expected_sample_coherence, intensity_coherence, sample_coherence
from cohcube.model.physics.speckle import correlated_pair

# Reference values of the issue (Touzi et al. 1999), three decimals.
TOUZI_REFERENCE = {
    8: (0.318, 0.407, 0.627, 0.902),
    16: (0.223, 0.351, 0.612, 0.901),
    32: (0.157, 0.324, 0.606, 0.900),
}
GAMMAS = (0.0, 0.3, 0.6, 0.9)


@pytest.mark.parametrize("looks", sorted(TOUZI_REFERENCE))
def test_expected_sample_coherence_matches_reference_values(looks: int) -> None:
    np.testing.assert_allclose(
        expected_sample_coherence(GAMMAS, looks), TOUZI_REFERENCE[looks], atol=5e-4
    )


@pytest.mark.parametrize(("looks", "gamma"), [(8, 0.3), (16, 0.6), (32, 0.0)])
def test_expected_sample_coherence_equals_mean_of_exact_pdf(looks: int, gamma: float) -> None:
    # Independent route: integrate D p(D) with the sample-coherence pdf
    # p(D) = 2 (L-1) (1-g^2)^L D (1-D^2)^(L-2) 2F1(L, L; 1; g^2 D^2).
    def density(d: float) -> float:
        hyp = special.hyp2f1(looks, looks, 1, gamma**2 * d**2)
        return float(
            2 * (looks - 1) * (1 - gamma**2) ** looks * d * (1 - d**2) ** (looks - 2) * hyp
        )

    mean, _ = integrate.quad(lambda d: d * density(d), 0, 1, limit=200)
    assert expected_sample_coherence(gamma, looks) == pytest.approx(mean, abs=1e-6)


@pytest.mark.parametrize("looks", sorted(TOUZI_REFERENCE))
@pytest.mark.parametrize("gamma", GAMMAS)
def test_sample_coherence_mean_follows_touzi(looks: int, gamma: float) -> None:
    rng = np.random.default_rng(1000 * looks + int(gamma * 10))
    n_estimates = 40_000
    z1, z2 = correlated_pair(gamma, n_estimates * looks, rng)
    # Each row holds L independent looks; the window of the middle column spans the row.
    estimates = sample_coherence(
        z1.reshape(n_estimates, looks), z2.reshape(n_estimates, looks), (1, looks)
    )[:, looks // 2].astype(np.float64)
    standard_error = estimates.std() / np.sqrt(n_estimates)
    expected = float(expected_sample_coherence(gamma, looks))
    assert abs(estimates.mean() - expected) < 4 * standard_error + 1e-4


def test_intensity_coherence_recovers_gamma_with_many_looks() -> None:
    # Siegert: rho_I = |gamma|^2, so sqrt(rho_I) estimates |gamma|.
    rng = np.random.default_rng(7)
    z1, z2 = correlated_pair(0.7, 256 * 256, rng)
    i1 = np.abs(z1.reshape(256, 256)) ** 2
    i2 = np.abs(z2.reshape(256, 256)) ** 2
    coherence = intensity_coherence(i1, i2, 255)
    assert np.nanmean(coherence[100:156, 100:156]) == pytest.approx(0.7, abs=0.02)


def test_identical_images_are_fully_coherent() -> None:
    rng = np.random.default_rng(3)
    z, _ = correlated_pair(0.0, 64 * 64, rng)
    slc = z.reshape(64, 64)
    np.testing.assert_allclose(sample_coherence(slc, slc, 5), 1.0, atol=1e-5)
    intensity = np.abs(slc) ** 2
    np.testing.assert_allclose(intensity_coherence(intensity, intensity, 5), 1.0, atol=1e-5)


@pytest.mark.parametrize("estimator", [sample_coherence, intensity_coherence])
def test_nan_inputs_give_nan_not_garbage(estimator) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    z1, z2 = correlated_pair(0.5, 48 * 48, rng)
    a, b = z1.reshape(48, 48), z2.reshape(48, 48)
    if estimator is intensity_coherence:
        a, b = np.abs(a) ** 2, np.abs(b) ** 2
    a = a.copy()
    a[10:20, 10:20] = np.nan  # a hole
    a[:, 40:] = np.nan  # a no-data strip at the edge
    out = estimator(a, b, 5)
    assert out.shape == (48, 48)
    assert np.isnan(out[10:20, 10:20]).all()
    assert np.isnan(out[:, 40:]).all()
    finite = out[np.isfinite(out)]
    assert finite.size > 0.6 * out.size
    assert ((finite >= 0) & (finite <= 1)).all()
    # Pixels next to the hole still use only valid samples: same value as
    # computing on an image where the hole is filled with other data is not
    # required, but the estimate must stay a coherence.
    assert np.isfinite(out[25, 25])
    all_nan = estimator(np.full((8, 8), np.nan), np.full((8, 8), np.nan), 3)
    assert np.isnan(all_nan).all()


def test_nan_windows_use_only_valid_samples() -> None:
    rng = np.random.default_rng(5)
    z1, z2 = correlated_pair(0.6, 32 * 32, rng)
    a, b = z1.reshape(32, 32).copy(), z2.reshape(32, 32)
    reference = sample_coherence(a[:, :16], b[:, :16], 5, min_valid_fraction=0.0)
    a[:, 16:] = np.nan
    out = sample_coherence(a, b, 5, min_valid_fraction=0.0)
    # The NaN half must act exactly like the image border.
    np.testing.assert_allclose(out[:, :16], reference, atol=1e-6)


@pytest.mark.parametrize("estimator", [sample_coherence, intensity_coherence])
def test_shape_mismatch_and_oversized_window_raise(estimator) -> None:  # type: ignore[no-untyped-def]
    a = np.ones((10, 12), dtype=np.complex64 if estimator is sample_coherence else np.float32)
    with pytest.raises(ValueError, match="same shape"):
        estimator(a, a[:, :11], 3)
    with pytest.raises(ValueError, match="larger than the image"):
        estimator(a, a, 11)
    with pytest.raises(ValueError, match="larger than the image"):
        estimator(a, a, (3, 13))
    with pytest.raises(ValueError, match="2-D"):
        estimator(a[0], a[0], 3)
    with pytest.raises(ValueError, match="at least 1 x 1"):
        estimator(a, a, 0)
