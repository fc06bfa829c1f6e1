"""Decorrelation terms of the interferometric coherence (DESIGN.md, "SAR physics").

Coherence between two acquisitions is the product of independent terms; the
simulator and the true-coherence maps both use these functions so that the
two can never disagree.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .radiometry import SENTINEL1_IW_NESZ_DB, db_to_linear


def temporal_coherence(
    baseline_days: ArrayLike, gamma_inf: ArrayLike, tau_days: ArrayLike
) -> NDArray[np.float64]:
    """Exponential temporal decorrelation ``gamma_inf + (1 - gamma_inf) exp(-|dt| / tau)``.

    Args:
        baseline_days: temporal baseline ``dt`` in days (sign ignored).
        gamma_inf: long-term coherence of the persistent scatterers, in [0, 1].
        tau_days: decorrelation time constant in days, > 0.

    Returns:
        Coherence in [0, 1], broadcast over the inputs.
    """
    dt = np.abs(np.asarray(baseline_days, dtype=np.float64))
    g_inf = np.asarray(gamma_inf, dtype=np.float64)
    tau = np.asarray(tau_days, dtype=np.float64)
    return g_inf + (1.0 - g_inf) * np.exp(-dt / tau)


def thermal_coherence(
    sigma0_1: ArrayLike, sigma0_2: ArrayLike, nesz_db: float = SENTINEL1_IW_NESZ_DB
) -> NDArray[np.float64]:
    """Thermal-noise decorrelation ``1 / sqrt((1 + 1/SNR_1)(1 + 1/SNR_2))``.

    Args:
        sigma0_1, sigma0_2: backscatter of the two acquisitions, linear power.
        nesz_db: noise-equivalent sigma zero in dB; ``SNR_t = sigma0_t / NESZ``.

    Returns:
        Coherence in [0, 1]; 0 where either backscatter is 0.
    """
    nesz = float(db_to_linear(nesz_db))
    s1 = np.asarray(sigma0_1, dtype=np.float64)
    s2 = np.asarray(sigma0_2, dtype=np.float64)
    # sqrt(s1 s2 / ((s1 + N)(s2 + N))) is the same quantity without dividing by SNR = 0.
    return np.sqrt(s1 * s2 / ((s1 + nesz) * (s2 + nesz)))
