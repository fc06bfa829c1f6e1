"""Sentinel-1 IW acquisition geometry used by the simulator.

Arrays follow ``(azimuth, range)`` = ``(y, x)`` order; distances are ground
metres. SLC samples lie on their own grid (about 14 m azimuth x 2.3 m range),
independent of the 10 m GRD grid: detection resamples between the two the way
a GRD processor does (multilook, then resample onto the output grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from .radiometry import SENTINEL1_IW_NESZ_DB

Pair = tuple[float, float]


@dataclass(frozen=True)
class SensorGeometry:
    """Sampling, resolution and detection parameters of a Sentinel-1 IW pair.

    Attributes:
        slc_spacing_m: SLC sample spacing ``(azimuth, range)`` in metres.
        bandwidth_fraction: occupied fraction of the sampled spectrum per axis;
            with the Hamming weighting it sets the resolution (about 22 m x 2.7 m).
        hamming_alpha: generalised Hamming coefficient of the spectral weighting.
        grd_pixel_m: GRD / output pixel size in metres.
        multilook_window_m: box window ``(azimuth, range)`` in metres that averages
            SLC intensities into a GRD pixel; the default gives ENL 4.4.
        coherence_window_m: box window ``(azimuth, range)`` in metres of the SLC
            sample coherence used as training target.
        nesz_db: noise-equivalent sigma zero, dB.
        psf_half_taps: half length of the point-spread-function kernels, samples.
    """

    slc_spacing_m: Pair = (14.0, 2.3)
    bandwidth_fraction: Pair = (0.67, 0.85)
    hamming_alpha: Pair = (0.70, 0.75)
    grd_pixel_m: float = 10.0
    multilook_window_m: Pair = (20.0, 9.2)
    coherence_window_m: Pair = (50.0, 50.0)
    nesz_db: float = SENTINEL1_IW_NESZ_DB
    psf_half_taps: int = 8

    def psf(self, axis: int) -> NDArray[np.float64]:
        """Real, symmetric point-spread kernel along ``axis`` (0 azimuth, 1 range), unit energy."""
        return _psf_kernel(
            self.bandwidth_fraction[axis], self.hamming_alpha[axis], self.psf_half_taps
        )

    def margin_m(self, axis: int, max_offset_px: float) -> float:
        """Ground margin around the scene so no kernel reaches the SLC grid edge, metres."""
        reach = max(self.multilook_window_m[axis], self.coherence_window_m[axis]) / 2
        psf = (self.psf_half_taps + 1) * self.slc_spacing_m[axis]
        return psf + reach + max_offset_px * self.grd_pixel_m + self.grd_pixel_m

    @cached_property
    def expected_enl(self) -> float:
        """Mean equivalent number of looks of detected GRD pixels (analytic)."""
        window = self.multilook_window_m
        return _mean_enl_1d(self, 0, window[0]) * _mean_enl_1d(self, 1, window[1])

    @cached_property
    def coherence_looks(self) -> float:
        """Effective independent looks inside the coherence window (analytic)."""
        window = self.coherence_window_m
        return _mean_enl_1d(self, 0, window[0]) * _mean_enl_1d(self, 1, window[1])


@dataclass(frozen=True)
class SlcGrid:
    """SLC sample grid covering a GRD scene plus margins.

    Sample ``k`` along an axis covers ``[origin + k d, origin + (k + 1) d]`` metres,
    where the GRD scene spans ``[0, n_grd * grd_pixel_m]``.
    """

    geometry: SensorGeometry
    grd_shape: tuple[int, int]
    origin_m: Pair
    shape: tuple[int, int]

    @classmethod
    def covering(
        cls, geometry: SensorGeometry, grd_shape: tuple[int, int], max_offset_px: float = 1.5
    ) -> SlcGrid:
        origins = []
        sizes = []
        for axis in (0, 1):
            margin = geometry.margin_m(axis, max_offset_px)
            extent = grd_shape[axis] * geometry.grd_pixel_m + 2 * margin
            origins.append(-margin)
            sizes.append(math.ceil(extent / geometry.slc_spacing_m[axis]))
        return cls(geometry, grd_shape, (origins[0], origins[1]), (sizes[0], sizes[1]))

    def sample_centres_m(self, axis: int) -> NDArray[np.float64]:
        d = self.geometry.slc_spacing_m[axis]
        return self.origin_m[axis] + (np.arange(self.shape[axis], dtype=np.float64) + 0.5) * d

    def nearest_grd_index(self, axis: int) -> NDArray[np.intp]:
        """GRD pixel under each SLC sample along ``axis`` (clamped at the scene edge)."""
        index = np.floor(self.sample_centres_m(axis) / self.geometry.grd_pixel_m).astype(np.intp)
        return np.clip(index, 0, self.grd_shape[axis] - 1)

    def box_matrix(self, axis: int, window_m: float, offset_px: float = 0.0) -> sparse.csr_array:
        """Row-normalised area weights from SLC samples to GRD pixels along ``axis``.

        Args:
            axis: 0 azimuth, 1 range.
            window_m: box width in metres centred on each GRD pixel.
            offset_px: shift of the GRD pixel centres in GRD pixels
                (misregistration of this acquisition).

        Returns:
            Sparse ``(n_grd, n_slc)`` matrix whose rows sum to 1.
        """
        d = self.geometry.slc_spacing_m[axis]
        px = self.geometry.grd_pixel_m
        n_out = self.grd_shape[axis]
        centres = (np.arange(n_out) + 0.5 + offset_px) * px
        first = np.floor((centres - window_m / 2 - self.origin_m[axis]) / d).astype(np.intp)
        span = math.ceil(window_m / d) + 2
        cols = first[:, None] + np.arange(span)[None, :]
        if cols.min() < 0 or cols.max() >= self.shape[axis]:
            raise ValueError(
                "offset exceeds the SLC grid margin; build the grid with a larger max_offset_px"
            )
        lo = np.maximum(self.origin_m[axis] + cols * d, (centres - window_m / 2)[:, None])
        hi = np.minimum(self.origin_m[axis] + (cols + 1) * d, (centres + window_m / 2)[:, None])
        weights = np.clip(hi - lo, 0.0, None)
        weights /= weights.sum(axis=1, keepdims=True)
        rows = np.repeat(np.arange(n_out), span)
        matrix = sparse.csr_array(
            (weights.ravel(), (rows, cols.ravel())), shape=(n_out, self.shape[axis])
        )
        matrix.eliminate_zeros()
        return matrix


def _psf_kernel(bandwidth_fraction: float, alpha: float, half_taps: int) -> NDArray[np.float64]:
    n = 512
    f = np.fft.fftfreq(n)
    inside = np.abs(f) < bandwidth_fraction / 2
    spectrum = np.where(
        inside, alpha + (1 - alpha) * np.cos(2 * np.pi * f / bandwidth_fraction), 0.0
    )
    impulse = np.fft.fftshift(np.fft.ifft(spectrum)).real
    centre = n // 2
    kernel = impulse[centre - half_taps : centre + half_taps + 1]
    return np.asarray(kernel / np.sqrt(np.sum(kernel**2)), dtype=np.float64)


def _mean_enl_1d(geometry: SensorGeometry, axis: int, window_m: float) -> float:
    """Looks along one axis of a box window: ``(sum w)^2 / (w^T |R|^2 w)``, pixel mean."""
    grid = SlcGrid.covering(geometry, (64, 64))
    weights = grid.box_matrix(axis, window_m).toarray()
    h = geometry.psf(axis)
    autocorr = np.correlate(h, h, mode="full")
    n = weights.shape[1]
    lag = np.arange(n)[None, :] - np.arange(n)[:, None]
    reach = len(h) - 1
    rho2 = np.where(np.abs(lag) <= reach, autocorr[np.clip(lag + reach, 0, 2 * reach)], 0.0) ** 2
    enl = weights.sum(axis=1) ** 2 / np.einsum("pi,ij,pj->p", weights, rho2, weights)
    return float(enl.mean())
