"""Radiometric units: decibels, linear power and the Sentinel-1 IW noise floor."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Noise-equivalent sigma zero of Sentinel-1 IW, dB (the design's nominal value).
SENTINEL1_IW_NESZ_DB: float = -22.0


def db_to_linear(value_db: ArrayLike) -> NDArray[np.float64]:
    """Convert decibels to linear power: ``10 ** (dB / 10)``."""
    return np.power(10.0, np.asarray(value_db, dtype=np.float64) / 10.0)


def linear_to_db(power: ArrayLike) -> NDArray[np.float64]:
    """Convert linear power to decibels; zero and negative power give ``-inf``/NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10.0 * np.log10(np.asarray(power, dtype=np.float64))
