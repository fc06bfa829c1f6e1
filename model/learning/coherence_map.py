"""Per-baseline recalibration of the predicted coherence: a monotone map fitted on validation.

The network never sees the temporal baseline and was trained at one (12 days)
against the SLC sample coherence. Off that baseline its estimate is
conditionally biased against the true coherence (e.g. +0.085 at 24 days for the
2026-12 shipped model). ``cohcube calibrate`` fits, per baseline, a
non-decreasing piecewise-linear map from the predicted coherence to the mean
true coherence of validation pixels that got that prediction (equal-count bins
of the prediction, made non-decreasing by pooling adjacent violators, so the
map never reverses an ordering). Between calibrated baselines the two neighbouring maps are blended
linearly in log(days); outside them the nearest one is used. A pure function of
the coherence value and the pair's baseline, it runs on the driver's lazy
arrays and in ``CoherenceModel.predict`` alike. No torch here.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Knots of a fitted map (equal-count bins of the predicted coherence).
MAP_KNOTS = 24


class CoherenceMap(BaseModel):
    """One baseline's map: ``corrected = interp(coherence, predicted, corrected)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    predicted: list[float] = Field(description="Knots on the predicted coherence, increasing.")
    corrected: list[float] = Field(description="Mean true coherence at each knot, non-decreasing.")

    @model_validator(mode="after")
    def _monotone(self) -> CoherenceMap:
        x, y = np.asarray(self.predicted), np.asarray(self.corrected)
        if len(x) < 2 or len(x) != len(y):
            raise ValueError("a coherence map needs two or more (predicted, corrected) knots")
        if np.any(np.diff(x) <= 0) or np.any(np.diff(y) < 0):
            raise ValueError("a coherence map must be increasing in predicted, non-decreasing")
        return self

    def __call__(self, coherence: NDArray[np.float32]) -> NDArray[np.float32]:
        """The map applied to any array of coherence (NaN stays NaN)."""
        return np.interp(coherence, self.predicted, self.corrected).astype(np.float32)


def fit_coherence_map(
    predicted: NDArray[np.floating], truth: NDArray[np.floating], knots: int = MAP_KNOTS
) -> CoherenceMap:
    """The map that sends ``predicted`` to the mean ``truth`` of its bin (finite pixels only).

    Args:
        predicted: the model's coherence on validation scenes, any shape.
        truth: the true coherence of the same pixels, same shape.
        knots: equal-count bins of ``predicted``; each bin gives one knot at its mean.
    """
    valid = np.isfinite(predicted) & np.isfinite(truth)
    p = predicted[valid].astype(np.float64)
    t = truth[valid].astype(np.float64)
    bins = [b for b in np.array_split(np.argsort(p, kind="stable"), knots) if b.size]
    x = np.array([p[b].mean() for b in bins])
    y = _pooled_adjacent_violators(
        np.array([t[b].mean() for b in bins]), np.array([b.size for b in bins])
    )
    # Ties between bins (a saturated prediction) would make the knots non-increasing.
    keep = np.concatenate([[True], np.diff(x) > 1e-9])
    return CoherenceMap(predicted=x[keep].round(6).tolist(), corrected=y[keep].round(6).tolist())


def _pooled_adjacent_violators(
    values: NDArray[np.float64], weights: NDArray[np.int64]
) -> NDArray[np.float64]:
    """The non-decreasing sequence closest to ``values`` in weighted least squares."""
    means: list[float] = []
    sizes: list[float] = []
    counts: list[int] = []
    for value, weight in zip(values, weights, strict=True):
        means.append(float(value))
        sizes.append(float(weight))
        counts.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            total = sizes[-2] + sizes[-1]
            merged = (means[-2] * sizes[-2] + means[-1] * sizes[-1]) / total
            count = counts[-2] + counts[-1]
            del means[-1], sizes[-1], counts[-1]
            means[-1], sizes[-1], counts[-1] = merged, total, count
    return np.repeat(means, counts)


def log_days_weights(table_days: Iterable[str], baseline_days: float) -> dict[str, float]:
    """Weights of a per-baseline table's entries (days as text) for a pair ``baseline_days``
    apart: linear in log(days) between the two entries around it, all on the nearest entry
    outside them. The one interpolation of every per-baseline calibration table.

    Raises:
        ValueError: ``baseline_days`` is not a positive number.
    """
    if not np.isfinite(baseline_days) or baseline_days <= 0:
        raise ValueError(f"baseline_days must be a positive number of days, got {baseline_days}")
    days = sorted(table_days, key=float)
    logs = np.log([float(d) for d in days])
    at = float(np.log(baseline_days))
    if at <= logs[0]:
        return {days[0]: 1.0}
    if at >= logs[-1]:
        return {days[-1]: 1.0}
    upper = int(np.searchsorted(logs, at))
    weight = float((at - logs[upper - 1]) / (logs[upper] - logs[upper - 1]))
    return {days[upper - 1]: 1.0 - weight, days[upper]: weight}


def mapped_coherence(
    coherence: NDArray[np.float32],
    maps: dict[str, CoherenceMap] | None,
    baseline_days: float | None,
) -> NDArray[np.float32]:
    """``coherence`` of a pair ``baseline_days`` apart, recalibrated by ``maps`` (days as text).

    Unchanged without maps or baseline; otherwise the maps blended by ``log_days_weights``.
    """
    if not maps or baseline_days is None:
        return coherence
    weights = log_days_weights(maps, baseline_days)
    blended = sum(np.float32(w) * maps[d](coherence) for d, w in weights.items())
    return np.asarray(blended, dtype=np.float32)
