"""Calibration and thermal-noise removal of GRD digital numbers, window by window.

``sigma0 = max(DN**2 - eta, 0) / A**2`` in linear power, where ``A`` is the
sigmaNought LUT (amplitude; the absolute calibration constant is already in
it) and ``eta`` the noise power (range LUT x azimuth factor). Both LUTs are
bilinear in (line, pixel): each vector is interpolated along its own pixel
positions, then between the two vectors bracketing each line (held constant
beyond the first and last vector). DN 0 is nodata (NaN).
"""

from __future__ import annotations

import numpy as np

from .product_xml import LutVectors, NoiseVectors


def interpolate_lut(vectors: LutVectors, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """LUT values on the grid ``rows x cols`` (image lines and pixels), ``(len(rows), len(cols))``.

    Only the vectors bracketing ``rows`` are interpolated along range, so the
    cost follows the window, not the scene.
    """
    rows = np.asarray(rows, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.float64)
    lines = vectors.lines
    lo = max(int(np.searchsorted(lines, rows.min(), side="right")) - 1, 0)
    hi = min(int(np.searchsorted(lines, rows.max(), side="left")) + 1, len(lines))
    used = range(lo, max(hi, lo + 1))
    along_range = np.stack([np.interp(cols, vectors.pixels[i], vectors.values[i]) for i in used])
    if along_range.shape[0] == 1:
        return np.broadcast_to(along_range, (rows.size, cols.size)).copy()
    used_lines = lines[lo : lo + along_range.shape[0]]
    upper = np.clip(np.searchsorted(used_lines, rows, side="right"), 1, len(used_lines) - 1)
    lower = upper - 1
    span = used_lines[upper] - used_lines[lower]
    weight = np.clip((rows - used_lines[lower]) / span, 0.0, 1.0)[:, None]
    return along_range[lower] * (1.0 - weight) + along_range[upper] * weight


def noise_power(noise: NoiseVectors, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Thermal noise power ``eta`` (DN**2 units) on ``rows x cols``.

    Range LUT times the azimuth factor of the block holding each pixel (1 where
    the product gives none: legacy schema, StripMap with ``count="0"``).
    """
    rows = np.asarray(rows, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.float64)
    eta = interpolate_lut(noise.range, rows, cols)
    for block in noise.azimuth:
        in_rows = (rows >= block.first_line) & (rows <= block.last_line)
        in_cols = (cols >= block.first_sample) & (cols <= block.last_sample)
        if not in_rows.any() or not in_cols.any():
            continue
        factor = np.interp(rows[in_rows], block.lines, block.values)
        eta[np.ix_(in_rows, in_cols)] *= factor[:, None]
    return eta


def sigma0_from_dn(
    dn: np.ndarray,
    calibration: LutVectors,
    noise: NoiseVectors | None,
    row0: int,
    col0: int,
) -> np.ndarray:
    """Calibrated sigma0 (linear power, float32) of a DN window whose corner is ``(row0, col0)``.

    Args:
        dn: ``(h, w)`` digital numbers (amplitude) of the measurement raster.
        calibration: sigmaNought LUT vectors.
        noise: thermal noise vectors, or None to keep the noise floor in.
        row0, col0: image line and pixel of ``dn[0, 0]``.

    Returns:
        ``(h, w)`` float32; NaN where DN is 0 (no data).
    """
    rows = np.arange(row0, row0 + dn.shape[0], dtype=np.float64)
    cols = np.arange(col0, col0 + dn.shape[1], dtype=np.float64)
    power = dn.astype(np.float64) ** 2
    if noise is not None:
        power = np.maximum(power - noise_power(noise, rows, cols), 0.0)
    gain = interpolate_lut(calibration, rows, cols)
    sigma0 = (power / gain**2).astype(np.float32)
    sigma0[dn == 0] = np.nan
    return sigma0


def dn_from_sigma0(
    sigma0: np.ndarray,
    calibration: LutVectors,
    noise: NoiseVectors | None,
    row0: int = 0,
    col0: int = 0,
) -> np.ndarray:
    """The inverse: digital numbers a processor would write for ``sigma0`` (float64, unrounded).

    ``DN = sqrt(sigma0 * A**2 + eta)``; used by the GRD-shaped sample writer and
    the round-trip tests.
    """
    rows = np.arange(row0, row0 + sigma0.shape[0], dtype=np.float64)
    cols = np.arange(col0, col0 + sigma0.shape[1], dtype=np.float64)
    power = sigma0.astype(np.float64) * interpolate_lut(calibration, rows, cols) ** 2
    if noise is not None:
        power = power + noise_power(noise, rows, cols)
    return np.sqrt(power)
