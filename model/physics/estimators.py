"""Classical coherence estimators on 2-D images and their theoretical behaviour.

``sample_coherence`` is the complex boxcar estimator used on coregistered SLC
pairs (the training target); ``intensity_coherence`` is the Siegert-based
estimator from two detected images (the baseline the network must beat).
Both are NaN-aware: a pixel is NaN where either input is NaN there, or where
too few valid samples fall inside its window; windows are truncated at the
image border rather than padded with made-up samples.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import mpmath
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

Window = int | Sequence[int]


def _window_shape(window: Window, image_shape: tuple[int, ...]) -> tuple[int, int]:
    if isinstance(window, int | np.integer):
        shape = (int(window), int(window))
    else:
        values = tuple(int(w) for w in window)
        if len(values) != 2:
            raise ValueError(f"window must be an int or a (rows, cols) pair, got {window!r}")
        shape = (values[0], values[1])
    if min(shape) < 1:
        raise ValueError(f"window must be at least 1 x 1 pixels, got {shape}")
    if shape[0] > image_shape[0] or shape[1] > image_shape[1]:
        raise ValueError(
            f"window {shape[0]} x {shape[1]} px is larger than the image "
            f"{image_shape[0]} x {image_shape[1]} px; use a smaller window"
        )
    return shape


def _check_pair(a: ArrayLike, b: ArrayLike, names: tuple[str, str]) -> tuple[NDArray, NDArray]:  # type: ignore[type-arg]
    x, y = np.asarray(a), np.asarray(b)
    for name, arr in zip(names, (x, y), strict=True):
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a 2-D image, got shape {arr.shape}")
    if x.shape != y.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {x.shape} and {y.shape}"
        )
    return x, y


class _WindowMeans:
    """Boxcar means over the valid samples of a window, truncated at the border."""

    def __init__(self, valid: NDArray[np.bool_], window: tuple[int, int], min_valid: float):
        self.window = window
        self.valid = valid
        weight = valid.astype(np.float64)
        self._valid_count = self._sum(weight)
        in_image = self._sum(np.ones_like(weight))
        # The estimate exists where the pixel itself is valid and enough of its
        # (border-truncated) window is.
        self.defined = valid & (self._valid_count >= min_valid * in_image - 1e-9)
        self.defined &= self._valid_count > 0.5

    def _sum(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        size = self.window[0] * self.window[1]
        mean = ndimage.uniform_filter(values, size=self.window, mode="constant", cval=0.0)
        return np.asarray(mean * size, dtype=np.float64)

    def mean(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        filled = np.where(self.valid, values, 0.0)
        out = np.full(values.shape, np.nan)
        # Windows without valid samples stay NaN: their running sums are round-off, not zero.
        np.divide(self._sum(filled), self._valid_count, out=out, where=self._valid_count > 0.5)
        return out


def sample_coherence(
    slc1: ArrayLike, slc2: ArrayLike, window: Window, min_valid_fraction: float = 0.5
) -> NDArray[np.float32]:
    """Boxcar sample coherence ``|sum s1 s2*| / sqrt(sum |s1|^2 sum |s2|^2)``.

    Args:
        slc1, slc2: coregistered complex images (SLC samples), same 2-D shape;
            NaN in the real or imaginary part marks no data.
        window: boxcar size in pixels, ``n`` or ``(rows, cols)``.
        min_valid_fraction: smallest fraction of the (border-truncated) window
            that must hold valid samples for an estimate.

    Returns:
        float32 coherence magnitude in [0, 1], shape of the inputs; NaN where
        undefined. Biased high for few looks (see ``expected_sample_coherence``).
    """
    s1, s2 = _check_pair(slc1, slc2, ("slc1", "slc2"))
    s1 = s1.astype(np.complex128, copy=False)
    s2 = s2.astype(np.complex128, copy=False)
    return coherence_from_moments(
        s1 * np.conj(s2), np.abs(s1) ** 2, np.abs(s2) ** 2, window, min_valid_fraction
    )


def coherence_from_moments(
    cross: ArrayLike,
    power1: ArrayLike,
    power2: ArrayLike,
    window: Window,
    min_valid_fraction: float = 0.5,
) -> NDArray[np.float32]:
    """Sample coherence from per-pixel moments ``s1 s2*``, ``|s1|^2``, ``|s2|^2``.

    The moments may already be multilooked (means over SLC samples); the
    boxcar then averages them further. NaN in any moment marks no data.

    Returns:
        float32 coherence in [0, 1], NaN where undefined.
    """
    c, p1 = _check_pair(cross, power1, ("cross", "power1"))
    _, p2 = _check_pair(cross, power2, ("cross", "power2"))
    shape = _window_shape(window, c.shape)
    c = c.astype(np.complex128, copy=False)
    valid = np.isfinite(c) & np.isfinite(p1) & np.isfinite(p2)
    means = _WindowMeans(valid, shape, min_valid_fraction)
    num = np.hypot(means.mean(c.real), means.mean(c.imag))
    power = means.mean(p1.astype(np.float64)) * means.mean(p2.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        coh = num / np.sqrt(power)
    out = np.where(means.defined & (power > 0), np.clip(coh, 0.0, 1.0), np.nan)
    return out.astype(np.float32)


def intensity_coherence(
    intensity1: ArrayLike, intensity2: ArrayLike, window: Window, min_valid_fraction: float = 0.5
) -> NDArray[np.float32]:
    """Coherence from two detected images via Siegert: ``sqrt(max(0, rho_I))``.

    ``rho_I`` is the boxcar correlation coefficient of the two intensities,
    which equals ``|gamma|^2`` for circular Gaussian speckle.

    Args:
        intensity1, intensity2: detected images in linear power, same 2-D
            shape; NaN marks no data.
        window: boxcar size in pixels, ``n`` or ``(rows, cols)``.
        min_valid_fraction: as in ``sample_coherence``.

    Returns:
        float32 coherence estimate in [0, 1], shape of the inputs; NaN where
        undefined (no data, or no intensity variance inside the window).
    """
    i1, i2 = _check_pair(intensity1, intensity2, ("intensity1", "intensity2"))
    shape = _window_shape(window, i1.shape)
    a = i1.astype(np.float64, copy=False)
    b = i2.astype(np.float64, copy=False)
    valid = np.isfinite(a) & np.isfinite(b)
    means = _WindowMeans(valid, shape, min_valid_fraction)
    ma, mb = means.mean(a), means.mean(b)
    cov = means.mean(a * b) - ma * mb
    var = (means.mean(a * a) - ma**2) * (means.mean(b * b) - mb**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = cov / np.sqrt(var)
    coh = np.sqrt(np.clip(rho, 0.0, 1.0))
    out = np.where(means.defined & (var > 0), coh, np.nan)
    return out.astype(np.float32)


def expected_sample_coherence(gamma: ArrayLike, looks: int) -> NDArray[np.float64]:
    """Mean of the sample coherence magnitude over ``looks`` independent looks.

    Touzi et al. (1999), IEEE TGRS 37(1), with ``x = |g|^2``:
    ``E|g^| = Gamma(L) Gamma(3/2) / Gamma(L+1/2) * 3F2(3/2, L, L; L+1/2, 1; x) * (1-x)^L``.

    Args:
        gamma: true coherence magnitude(s) in [0, 1).
        looks: number of independent looks ``L`` >= 1.
    """
    if looks < 1:
        raise ValueError(f"looks must be >= 1, got {looks}")
    g = np.asarray(gamma, dtype=np.float64)
    if np.any((g < 0) | (g >= 1)):
        raise ValueError("gamma must lie in [0, 1)")
    n = mpmath.mpf(looks)
    three_halves = mpmath.mpf(3) / 2
    lead = mpmath.gamma(n) * mpmath.gamma(three_halves) / mpmath.gamma(n + mpmath.mpf(1) / 2)

    def one(value: float) -> float:
        x = mpmath.mpf(value) ** 2
        series = mpmath.hyp3f2(three_halves, n, n, n + mpmath.mpf(1) / 2, 1, x)
        return float(lead * series * (1 - x) ** n)

    return np.asarray(np.vectorize(one, otypes=[np.float64])(g), dtype=np.float64)


@functools.lru_cache(maxsize=16)
def _touzi_table(looks: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    gamma = np.linspace(0.0, 0.999, 241)
    return gamma, expected_sample_coherence(gamma, looks)


def debias_coherence(estimate: ArrayLike, looks: float) -> NDArray[np.float32]:
    """Remove the sample-coherence bias by inverting ``expected_sample_coherence``.

    Maps each estimate to the true coherence whose expected estimate it equals
    (Touzi et al. 1999); estimates below the bias at zero coherence map to 0.

    Args:
        estimate: sample coherence magnitudes in [0, 1] (NaN kept).
        looks: effective number of independent looks of the estimator window
            (rounded to an integer for the closed form).
    """
    gamma, expected = _touzi_table(max(1, round(looks)))
    values = np.asarray(estimate, dtype=np.float64)
    out = np.interp(values, expected, gamma, left=0.0, right=1.0)
    return np.where(np.isfinite(values), out, np.nan).astype(np.float32)


def equivalent_number_of_looks(intensity: ArrayLike) -> float:
    """ENL ``mean^2 / variance`` of intensities over a homogeneous area (NaN ignored)."""
    values = np.asarray(intensity, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        raise ValueError("need at least two finite intensity samples to estimate the ENL")
    return float(values.mean() ** 2 / values.var())
