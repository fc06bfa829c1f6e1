"""Detected GRD-like images: looks, misregistration, thermal noise and the SLC target."""

from __future__ import annotations

import numpy as np
import pytest

from cohcube.model import (
    LandCover,
    SensorGeometry,
    SlcGrid,
    equivalent_number_of_looks,
    expected_sample_coherence,
    homogeneous_scene,
    simulate_series,
    thermal_coherence,
    true_coherence,
)
from cohcube.model.physics.detection import coherence_target

INTERIOR = (slice(30, -30), slice(100, -100))


def test_enl_of_detected_images_is_sentinel1_grdh() -> None:
    scene = homogeneous_scene((512, 512), sigma0_db=(0.0, -6.0))
    rng = np.random.default_rng(4)
    for acquisition in simulate_series(scene, (0.0, 12.0), rng, polarizations=("VV", "VH")):
        for channel in acquisition.intensity:
            assert equivalent_number_of_looks(channel) == pytest.approx(4.4, abs=0.3)
    # The analytic value from the PSF and multilook window agrees.
    assert SensorGeometry().expected_enl == pytest.approx(4.4, abs=0.1)


def test_box_matrix_rows_are_normalised_and_offsets_are_bounded() -> None:
    grid = SlcGrid.covering(SensorGeometry(), (20, 30), max_offset_px=1.0)
    for axis, window in ((0, 20.0), (1, 9.2)):
        matrix = grid.box_matrix(axis, window, offset_px=0.7)
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="margin"):
        grid.box_matrix(1, 9.2, offset_px=25.0)


def _correlation_at_offset(offset: tuple[float, float]) -> float:
    scene = homogeneous_scene(
        (256, 256), sigma0_db=(0.0, -6.0), gamma_inf=0.9, tau_days=1e6, land_cover=LandCover.URBAN
    )
    rng = np.random.default_rng(17)
    a, b = simulate_series(scene, (0.0, 12.0), rng, offsets_px=[(0.0, 0.0), offset])
    return float(np.corrcoef(a.intensity[0].ravel(), b.intensity[0].ravel())[0, 1])


def test_misregistration_destroys_intensity_correlation() -> None:
    aligned = _correlation_at_offset((0.0, 0.0))
    assert aligned > 0.75
    # Range: the detected resolution cell is the 9.2 m window plus the ~2.7 m PSF.
    range_curve = [_correlation_at_offset((0.0, dx)) for dx in (0.25, 0.5, 1.0)]
    assert aligned > range_curve[0] > range_curve[1] > range_curve[2]
    for dx in (2.0, 3.0):
        assert abs(_correlation_at_offset((0.0, dx))) < 0.02
    # Azimuth: the cell is the 20 m window plus the ~22 m PSF.
    assert aligned > _correlation_at_offset((1.0, 0.0)) > _correlation_at_offset((3.0, 0.0))
    for dy in (5.0, 6.0):
        assert abs(_correlation_at_offset((dy, 0.0))) < 0.02


@pytest.mark.parametrize("sigma0_db", [-25.0, -22.0, -19.0])
def test_nesz_limited_surfaces_show_thermal_decorrelation(sigma0_db: float) -> None:
    # Perfectly stable scatterers: every bit of decorrelation is thermal noise.
    scene = homogeneous_scene(
        (256, 256),
        sigma0_db=(sigma0_db, sigma0_db - 6),
        gamma_inf=1.0,
        tau_days=1e6,
        land_cover=LandCover.URBAN,
    )
    rng = np.random.default_rng(int(-sigma0_db))
    a, b = simulate_series(scene, (0.0, 12.0), rng, keep_slc=True)
    assert a.slc is not None
    assert b.slc is not None
    s1, s2 = a.slc["VV"][INTERIOR], b.slc["VV"][INTERIOR]
    measured = abs(np.vdot(s2, s1)) / np.sqrt(np.vdot(s1, s1).real * np.vdot(s2, s2).real)
    sigma0 = 10 ** (np.array([a.state.fields.sigma0_db[0, 0], b.state.fields.sigma0_db[0, 0]]) / 10)
    expected = float(thermal_coherence(sigma0[0], sigma0[1], -22.0))
    assert measured == pytest.approx(expected, abs=0.02)
    truth = true_coherence(scene, a.state, b.state, "VV", -22.0)
    np.testing.assert_allclose(truth, expected, atol=1e-5)
    if sigma0_db == -22.0:
        assert expected == pytest.approx(0.5, abs=0.06)  # SNR ~ 1 on both dates


def test_coherence_target_is_sample_coherence_with_touzi_bias() -> None:
    # Incoherent bright surface: the target shows the estimator's bias, not 0.
    scene = homogeneous_scene((192, 192), sigma0_db=(0.0, -6.0), gamma_inf=0.0, tau_days=1e-3)
    rng = np.random.default_rng(23)
    a, b = simulate_series(scene, (0.0, 12.0), rng, keep_slc=True)
    assert a.slc is not None
    assert b.slc is not None
    grid = SlcGrid.covering(SensorGeometry(), scene.shape, max_offset_px=0.5)
    target = coherence_target(a.slc["VV"], b.slc["VV"], grid)
    assert target.shape == scene.shape
    mean = float(target.mean())
    # Between the bias of 80 independent looks and that of 20.
    assert (
        float(expected_sample_coherence(0.0, 80)) < mean < float(expected_sample_coherence(0.0, 20))
    )
