"""DN <-> sigma0 on every shared product's real LUTs, against an independent interpolation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import interp1d
from support.real_grd import PRODUCTS, RealProduct, needs_shared, product_params

from cohcube.pipeline.grd.product_xml import (
    LutVectors,
    NoiseVectors,
    parse_annotation,
    parse_calibration,
    parse_noise,
)
from cohcube.pipeline.grd.radiometry import interpolate_lut, noise_power, sigma0_from_dn


def reference_lut(vectors: LutVectors, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear LUT by scipy, pixel by pixel of each vector then line by line (clamped)."""
    along = np.stack(
        [
            interp1d(p, v, bounds_error=False, fill_value=(v[0], v[-1]))(cols)
            for p, v in zip(vectors.pixels, vectors.values, strict=True)
        ]
    )
    across = interp1d(
        vectors.lines, along, axis=0, bounds_error=False, fill_value=(along[0], along[-1])
    )
    return across(rows)


def reference_noise(noise: NoiseVectors, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    eta = reference_lut(noise.range, rows, cols)
    for block in noise.azimuth:
        for i, row in enumerate(rows):
            if block.first_line <= row <= block.last_line:
                inside = (cols >= block.first_sample) & (cols <= block.last_sample)
                eta[i, inside] *= np.interp(row, block.lines, block.values)
    return eta


def window(product: RealProduct, seed: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    lines, samples = parse_annotation(product.annotation.read_bytes()).shape
    rng = np.random.default_rng(seed)
    row0 = int(rng.integers(0, lines - 300))
    col0 = int(rng.integers(0, samples - 400))
    return np.arange(row0, row0 + 300.0), np.arange(col0, col0 + 400.0), row0, col0


@pytest.mark.parametrize("product", product_params())
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_round_trip_within_a_hundredth_of_a_db(product: RealProduct, seed: int) -> None:
    calibration = parse_calibration(product.calibration.read_bytes())
    noise = parse_noise(product.noise.read_bytes())
    rows, cols, row0, col0 = window(product, seed)
    gain = reference_lut(calibration, rows, cols)
    eta = reference_noise(noise, rows, cols)
    sigma0 = 10 ** (np.random.default_rng(seed).uniform(-28, 3, (rows.size, cols.size)) / 10)
    dn = np.sqrt(sigma0 * gain**2 + eta)  # what a processor writes, before rounding
    back = sigma0_from_dn(dn, calibration, noise, row0, col0).astype(np.float64)
    above_floor = sigma0 > eta / gain**2
    error_db = np.abs(10 * np.log10(back[above_floor] / sigma0[above_floor]))
    assert above_floor.mean() > 0.5
    assert error_db.max() <= 0.01
    # Rounded to uint16 as in the product, the error is the quantisation's (DN ~ 10-3000).
    quantised = sigma0_from_dn(np.round(dn).astype(np.uint16), calibration, noise, row0, col0)
    strong = above_floor & (sigma0 > 4 * eta / gain**2)
    assert np.median(np.abs(10 * np.log10(quantised[strong] / sigma0[strong]))) < 0.05


@pytest.mark.parametrize("product", product_params())
def test_luts_match_the_reference_interpolation(product: RealProduct) -> None:
    calibration = parse_calibration(product.calibration.read_bytes())
    noise = parse_noise(product.noise.read_bytes())
    rows, cols, _, _ = window(product, 7)
    np.testing.assert_allclose(
        interpolate_lut(calibration, rows, cols), reference_lut(calibration, rows, cols), rtol=1e-9
    )
    np.testing.assert_allclose(
        noise_power(noise, rows, cols), reference_noise(noise, rows, cols), rtol=1e-9, atol=1e-9
    )
    # At a vector's own (line, pixel) the LUT is the published value.
    line, pixels, values = calibration.lines[3], calibration.pixels[3], calibration.values[3]
    np.testing.assert_allclose(
        interpolate_lut(calibration, np.array([line]), pixels)[0], values, rtol=1e-12
    )


@needs_shared
def test_thermal_noise_removal_takes_out_the_lut_noise_share() -> None:
    product = next(p for p in PRODUCTS if p.name == "S1A_IW_GRDH_1SDV_20210809-vh")
    calibration = parse_calibration(product.calibration.read_bytes())
    noise = parse_noise(product.noise.read_bytes())
    rows, cols = np.arange(8000, 8200.0), np.arange(5000, 5400.0)
    gain = reference_lut(calibration, rows, cols)
    nesz = reference_noise(noise, rows, cols) / gain**2
    sigma0 = np.full(nesz.shape, 10 ** (-24 / 10))  # a dark VH surface, near the floor
    dn = np.sqrt(sigma0 * gain**2 + nesz * gain**2)
    kept = sigma0_from_dn(dn, calibration, None, 8000, 5000).astype(np.float64)
    removed = sigma0_from_dn(dn, calibration, noise, 8000, 5000).astype(np.float64)
    # Without removal the dark surface reads high by the noise share (a bias of ~2-3 dB here).
    np.testing.assert_allclose(kept - sigma0, nesz, rtol=1e-5)
    assert np.median(10 * np.log10(kept / sigma0)) > 1.5
    np.testing.assert_allclose(removed, sigma0, rtol=1e-4)
    assert -27 < np.median(10 * np.log10(nesz)) < -22


@needs_shared
def test_stripmap_without_azimuth_vectors_uses_factor_one() -> None:
    product = next(p for p in PRODUCTS if p.name.startswith("S1C_S4"))
    noise = parse_noise(product.noise.read_bytes())
    assert noise.azimuth == ()
    rows, cols = np.arange(100, 110.0), np.arange(0, 8000.0, 100)
    np.testing.assert_allclose(
        noise_power(noise, rows, cols), interpolate_lut(noise.range, rows, cols)
    )


def test_dn_zero_is_nodata() -> None:
    lut = LutVectors(
        np.array([0.0, 10.0]), (np.array([0.0, 10.0]),) * 2, (np.array([500.0, 500.0]),) * 2
    )
    noise = NoiseVectors(
        LutVectors(lut.lines, lut.pixels, (np.array([100.0, 100.0]),) * 2), (), True
    )
    dn = np.array([[0, 5], [50, 500]], dtype=np.uint16)
    sigma0 = sigma0_from_dn(dn, lut, noise, 0, 0)
    assert np.isnan(sigma0[0, 0])
    assert sigma0[0, 1] == 0.0  # below the noise floor: clipped at 0, not negative
    np.testing.assert_allclose(sigma0[1, 1], (500**2 - 100) / 500**2, rtol=1e-6)
