"""Per-pixel evidence of change, as robust scores per interval between acquisitions (NumPy).

Pure kernels on one spatial block; ``changes`` maps them over a cube. Time is a
track's acquisition timeline ``t_0 < t_1 < ... < t_n``; an *interval* ``j`` is
``(t_j, t_j+1)``, the finest time a change can be placed in. Two kinds of
evidence score every interval, each a z-score against the pixel's own history:

- **coherence loss**: each pair's smoothed coherence against the median of the
  pairs of its series that do not overlap it in time, with the spread pooled
  over a ``pool_px`` neighbourhood (a field's pixels share their history; ten
  pairs alone give a noisy spread); an interval's score is the sum of the z of
  every pair bracketing it over the square root of their number, sign flipped
  so that a loss is positive;
- **backscatter step** (VV and VH, dB): mean of the ``window`` dates after the
  interval minus the mean of the ``window`` dates before it, over the pixel's
  date-to-date spread (from its successive differences, pooled likewise) times
  ``sqrt(1/n_before + 1/n_after)``: a change moves the level for good, where
  moisture and wind only jitter single dates.

Under no change each score is close to a unit normal; ``changes`` combines them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter

MAD_TO_SIGMA = 1.4826


def nan_boxcar(block: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    """NaN-aware mean over ``size`` x ``size`` pixels of each plane of ``(..., y, x)``."""
    if size <= 1:
        return block
    valid = np.isfinite(block)
    values = np.where(valid, block, 0.0).astype(np.float32)
    footprint = (*(1,) * (block.ndim - 2), size, size)
    total = uniform_filter(values, footprint, mode="nearest")
    count = uniform_filter(valid.astype(np.float32), footprint, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return np.where(count > 0.5 / size**2, mean, np.nan).astype(np.float32)


# No warnings.catch_warnings here: it swaps process-wide filters and races when dask runs
# blocks on threads. All-NaN pixels are filled before the reductions and NaN again after.


def _nanmedian(values: NDArray[np.float32]) -> NDArray[np.float32]:
    """Median along axis 0 ignoring NaN; NaN where every value is."""
    empty = np.asarray(~np.isfinite(values).any(axis=0))
    filled = np.where(empty[None], 0.0, values)
    return np.where(empty, np.nan, np.nanmedian(filled, axis=0)).astype(np.float32)


def _nanmean(values: NDArray[np.float32]) -> NDArray[np.float32]:
    """Mean along axis 0 ignoring NaN; NaN where every value is."""
    valid = np.isfinite(values)
    count = valid.sum(axis=0)
    total = np.where(valid, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


def pooled(spread: NDArray[np.float32], pool_px: int) -> NDArray[np.float32]:
    """Root-mean-square of a spread map over ``pool_px`` x ``pool_px`` neighbours (NaN-aware)."""
    if pool_px <= 1:
        return spread
    # The boxcar of squares can dip a hair below 0 in float32.
    return np.sqrt(np.maximum(nan_boxcar(spread**2, pool_px), 0.0))


def coherence_pair_scores(
    smooth: NDArray[np.float32],
    series: Sequence[NDArray[np.intp]],
    starts: NDArray[np.float64],
    ends: NDArray[np.float64],
    *,
    past_only: bool,
    min_history: int,
    min_spread: float,
    pool_px: int,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(pair, y, x) smoothed coherence -> (z, drop), each ``(pair, y, x)``, NaN where unjudged.

    ``drop`` is the median of the pair's history minus its coherence; ``z`` is
    ``-drop`` over the pooled robust spread (1.4826 x the median absolute
    deviation, floored at ``min_spread``). History: the series' pairs that end
    before the pair starts and, unless ``past_only``, those that start after it
    ends (an archive's pixel is judged by its whole series: the past alone gave
    more false alarms on the sample, 5.5 % vs 4.7 % at the same threshold).
    A pair with fewer than ``min_history`` is unjudged.
    """
    z = np.full(smooth.shape, np.nan, dtype=np.float32)
    drop = np.full(smooth.shape, np.nan, dtype=np.float32)
    for indices in series:
        for pair in indices:
            history = [i for i in indices if ends[i] <= starts[pair]]
            if not past_only:
                history += [i for i in indices if starts[i] >= ends[pair]]
            if len(history) < min_history:
                continue
            values = smooth[history]
            level = _nanmedian(values)
            spread = MAD_TO_SIGMA * _nanmedian(np.abs(values - level))
            spread = np.maximum(pooled(spread, pool_px), min_spread)
            drop[pair] = level - smooth[pair]
            z[pair] = -drop[pair] / spread
    return z, drop


def bracketing_pairs(
    times: NDArray[np.float64],
    starts: NDArray[np.float64],
    ends: NDArray[np.float64],
    pairs: NDArray[np.intp],
) -> list[list[int]]:
    """For each interval ``(times[j], times[j+1])``, those of ``pairs`` spanning it."""
    return [
        [int(k) for k in pairs if starts[k] <= times[j] and ends[k] >= times[j + 1]]
        for j in range(len(times) - 1)
    ]


def coherence_interval_scores(
    pair_z: NDArray[np.float32], pair_drop: NDArray[np.float32], brackets: list[list[int]]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Per interval: loss score (positive = loss) and the mean drop of its bracketing pairs.

    Returns two ``(interval, y, x)`` arrays; NaN where no judged pair spans the interval.
    """
    shape = (len(brackets), *pair_z.shape[1:])
    score = np.full(shape, np.nan, dtype=np.float32)
    drop = np.full(shape, np.nan, dtype=np.float32)
    for j, pairs in enumerate(brackets):
        if not pairs:
            continue
        z = pair_z[pairs]
        judged = np.isfinite(z).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            score[j] = np.where(judged > 0, -np.nansum(z, axis=0) / np.sqrt(judged), np.nan)
        drop[j] = _nanmean(pair_drop[pairs])
    return score, drop


def backscatter_step_scores(
    level_db: NDArray[np.float32],
    *,
    window: int,
    past_only: bool,
    min_history: int,
    min_spread_db: float,
    pool_px: int,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(date, y, x) smoothed backscatter in dB -> step z and step in dB, each ``(interval, y, x)``.

    The step at interval ``j`` is the mean of dates ``j+1 .. j+window`` minus the
    mean of dates ``j-window+1 .. j`` (``past_only``: the after side is date
    ``j+1`` alone, what a monitoring run knows when that date arrives). The
    spread is the pixel's robust date-to-date standard deviation, from its
    successive differences (a step is one outlier among them), pooled over
    ``pool_px`` and floored at ``min_spread_db``; ``past_only``: from the
    differences up to date ``j+1``, at least ``min_history`` of them (else unjudged).
    """
    n_dates = level_db.shape[0]
    steps = np.diff(level_db, axis=0)

    def spread_of(differences: NDArray[np.float32]) -> NDArray[np.float32]:
        centre = _nanmedian(differences)
        spread = MAD_TO_SIGMA * _nanmedian(np.abs(differences - centre)) / np.sqrt(2.0)
        return np.maximum(pooled(spread, pool_px), min_spread_db)

    whole = None if past_only else spread_of(steps)
    shape = (n_dates - 1, *level_db.shape[1:])
    z = np.full(shape, np.nan, dtype=np.float32)
    step = np.full(shape, np.nan, dtype=np.float32)
    after_len = 1 if past_only else window
    for j in range(n_dates - 1):
        if past_only and j + 1 < min_history:
            continue
        spread = spread_of(steps[: j + 1]) if whole is None else whole
        before = level_db[max(0, j - window + 1) : j + 1]
        after = level_db[j + 1 : j + 1 + after_len]
        n_before = np.isfinite(before).sum(axis=0)
        n_after = np.isfinite(after).sum(axis=0)
        step[j] = _nanmean(after) - _nanmean(before)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = spread * np.sqrt(1.0 / n_before + 1.0 / n_after)
            z[j] = np.where((n_before > 0) & (n_after > 0), step[j] / scale, np.nan)
    return z, step
