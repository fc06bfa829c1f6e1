"""Coregistered SLC stacks: circular Gaussian speckle with temporal and thermal decorrelation.

Per SLC sample and acquisition ``t`` the complex reflectivity is
``r_t = sqrt(sigma0_t) z_t + sqrt(NESZ) n_t`` with unit circular Gaussian
``z_t`` and independent thermal noise ``n_t``. The scatterer term is built as
``z_t = sqrt(gamma_inf) a + sqrt(1 - gamma_inf) u_t`` where ``a`` persists and
``u_t`` is a complex AR(1) process with correlation ``exp(-dt / tau)``, so
``E[z_i conj(z_j)] = gamma_inf + (1 - gamma_inf) exp(-|t_i - t_j| / tau)`` for
any set of dates, exactly the design's temporal model. The SLC is ``r_t``
filtered by the sensor's point-spread function, which makes neighbouring
samples correlated as in real SLCs (the resolution cell spans several samples).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from .change_events import FieldState
from .landcover import POLARIZATIONS, Scene, backscatter_map
from .radiometry import db_to_linear
from .sensor import SlcGrid

Complex = NDArray[np.complex64]


def circular_gaussian(shape: int | tuple[int, ...], rng: np.random.Generator) -> Complex:
    """Unit-variance circular complex Gaussian samples (``E|z|^2 = 1``), complex64."""
    out = np.empty(shape, dtype=np.complex64)
    out.real = rng.standard_normal(shape, dtype=np.float32)
    out.imag = rng.standard_normal(shape, dtype=np.float32)
    out *= np.float32(np.sqrt(0.5))
    return out


def correlated_pair(gamma: float, size: int, rng: np.random.Generator) -> tuple[Complex, Complex]:
    """Two unit-variance circular Gaussian vectors with ``E[z1 conj(z2)] = gamma``.

    Independent samples (no spatial correlation): the textbook setting of the
    Touzi and Siegert relations.
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
    z1 = circular_gaussian(size, rng)
    w = circular_gaussian(size, rng)
    z2 = (gamma * z1 + np.sqrt(1.0 - gamma**2) * w).astype(np.complex64)
    return z1, z2


def apply_psf(reflectivity: Complex, grid: SlcGrid) -> Complex:
    """Filter a reflectivity map with the separable point-spread function (unit energy)."""
    out = reflectivity
    for axis in (0, 1):
        kernel = grid.geometry.psf(axis).astype(np.float32)
        out = ndimage.convolve1d(out, kernel, axis=axis, mode="constant")
    return out.astype(np.complex64, copy=False)


class SlcStackSimulator:
    """Steps one coregistered SLC stack through acquisitions, in time order.

    Args:
        scene: the ground.
        grid: SLC sample grid covering the scene.
        rng: random generator; the stack is a pure function of its state.
        polarizations: channels to simulate (independent speckle each).
    """

    def __init__(
        self,
        scene: Scene,
        grid: SlcGrid,
        rng: np.random.Generator,
        polarizations: Sequence[str] = ("VV",),
    ) -> None:
        unknown = [p for p in polarizations if p not in POLARIZATIONS]
        if unknown:
            raise ValueError(f"unknown polarisation(s) {unknown}; use some of {POLARIZATIONS}")
        self.grid = grid
        self.rng = rng
        self.polarizations = tuple(polarizations)
        self.scene = scene
        self._to_slc = np.ix_(grid.nearest_grd_index(0), grid.nearest_grd_index(1))
        self._field = scene.field_id[self._to_slc]
        self._nesz = float(db_to_linear(grid.geometry.nesz_db))
        self._persistent: dict[str, Complex] = {}
        self._ar: dict[str, Complex] = {}
        self._epoch: NDArray[np.int32] | None = None
        self._day: float | None = None

    def acquire(self, state: FieldState) -> dict[str, Complex]:
        """SLC images of the next acquisition, ``{pol: (n_azimuth, n_range) complex64}``."""
        if self._day is not None and state.day < self._day:
            raise ValueError("acquisitions must be simulated in time order")
        fields = state.fields
        gamma_inf = fields.gamma_inf.astype(np.float32)[self._field]
        epoch = state.epoch[self._field]
        renew = None if self._epoch is None else epoch != self._epoch
        if self._day is not None:
            tau = fields.tau_days.astype(np.float32)[self._field]
            rho = np.exp(-np.float32(state.day - self._day) / tau)
        shape = self.grid.shape
        out: dict[str, Complex] = {}
        for pol in self.polarizations:
            if pol not in self._persistent:
                self._persistent[pol] = circular_gaussian(shape, self.rng)
                self._ar[pol] = circular_gaussian(shape, self.rng)
            else:
                innovation = circular_gaussian(shape, self.rng)
                self._ar[pol] = (rho * self._ar[pol] + np.sqrt(1 - rho**2) * innovation).astype(
                    np.complex64
                )
                if renew is not None and renew.any():
                    n = int(renew.sum())
                    self._persistent[pol][renew] = circular_gaussian(n, self.rng)
                    self._ar[pol][renew] = circular_gaussian(n, self.rng)
            scatterers = (
                np.sqrt(gamma_inf) * self._persistent[pol] + np.sqrt(1 - gamma_inf) * self._ar[pol]
            )
            sigma0 = backscatter_map(self.scene, fields, pol).astype(np.float32)[self._to_slc]
            amplitude = np.sqrt(sigma0)
            noise = circular_gaussian(shape, self.rng) * np.float32(np.sqrt(self._nesz))
            out[pol] = apply_psf((amplitude * scatterers + noise).astype(np.complex64), self.grid)
        self._epoch = epoch
        self._day = state.day
        return out
