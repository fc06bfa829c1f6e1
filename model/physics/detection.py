"""From SLC samples to the 10 m GRD grid: detected intensity and the SLC coherence target.

Detection averages SLC intensities inside a box window around each GRD pixel
centre (multilooking plus resampling in one linear step), optionally with the
GRD grid of one acquisition shifted to mimic misregistration between dates.
The coherence target is the complex sample coherence of the coregistered SLC
pair, accumulated over a larger window on the same GRD grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from .sensor import SlcGrid


def _resample(values: NDArray[Any], rows: sparse.csr_array, cols: sparse.csr_array) -> NDArray[Any]:
    """``rows @ values @ cols.T`` with sparse separable weights."""
    tmp = rows @ values
    return np.asarray((cols @ tmp.T).T)


def detect(
    slc: NDArray[np.complex64], grid: SlcGrid, offset_px: tuple[float, float] = (0.0, 0.0)
) -> NDArray[np.float32]:
    """Detected (GRD-like) intensity on the GRD grid, linear power.

    Args:
        slc: SLC samples on ``grid``, ``(n_azimuth, n_range)``.
        grid: the SLC grid.
        offset_px: ``(dy, dx)`` shift of this acquisition's GRD pixel centres,
            GRD pixels (misregistration against the reference grid).

    Returns:
        float32 ``grid.grd_shape`` intensity; ENL about ``grid.geometry.expected_enl``.
    """
    window = grid.geometry.multilook_window_m
    rows = grid.box_matrix(0, window[0], offset_px[0])
    cols = grid.box_matrix(1, window[1], offset_px[1])
    power = slc.real.astype(np.float64) ** 2 + slc.imag.astype(np.float64) ** 2
    return _resample(power, rows, cols).astype(np.float32)


def coherence_target(
    slc1: NDArray[np.complex64], slc2: NDArray[np.complex64], grid: SlcGrid
) -> NDArray[np.float32]:
    """Sample coherence of the coregistered SLC pair on the reference GRD grid.

    Sums over ``grid.geometry.coherence_window_m`` (a box in metres), so each
    estimate uses a few dozen correlated SLC samples, as in SLC coherence
    products terrain-corrected to 10 m.
    """
    window = grid.geometry.coherence_window_m
    rows = grid.box_matrix(0, window[0])
    cols = grid.box_matrix(1, window[1])
    a = slc1.astype(np.complex128)
    b = slc2.astype(np.complex128)
    cross = _resample(a * np.conj(b), rows, cols)
    p1 = _resample(np.abs(a) ** 2, rows, cols)
    p2 = _resample(np.abs(b) ** 2, rows, cols)
    coherence = np.clip(np.abs(cross) / np.sqrt(p1 * p2), 0.0, 1.0)
    return np.asarray(coherence, dtype=np.float32)
