"""Radiometric units: decibels, linear power and the Sentinel-1 IW noise floor.

The one definition of dB <-> linear power in cohcube: the simulator, the
network's input scaling, evaluation and the cube's calibration of dB assets
all call these two functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Noise-equivalent sigma zero of Sentinel-1 IW, dB (the design's nominal value).
SENTINEL1_IW_NESZ_DB: float = -22.0


Real = type[np.float32] | type[np.float64]


def db_to_linear(value_db: ArrayLike, dtype: Real = np.float64) -> NDArray[np.floating[Any]]:
    """Convert decibels to linear power: ``10 ** (dB / 10)``, computed in ``dtype``."""
    values: NDArray[np.floating[Any]] = np.asarray(value_db, dtype=dtype)
    linear: NDArray[np.floating[Any]] = np.power(dtype(10.0), values / dtype(10.0))
    return linear


def linear_to_db(
    power: ArrayLike, dtype: Real = np.float64, out: NDArray[np.floating[Any]] | None = None
) -> NDArray[np.floating[Any]]:
    """Convert linear power to decibels in ``dtype`` (into ``out`` of that dtype if given,
    which may be ``power`` itself); zero and negative power give -inf/NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        db: NDArray[np.floating[Any]] = np.log10(np.asarray(power, dtype=dtype), out=out)
    db *= 10.0
    return db
