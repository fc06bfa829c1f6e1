"""One block of change detection: combine the evidence per interval and cut it into events (NumPy).

``changes.detect_changes`` maps ``detect_block`` over a cube with a halo; the
evidence kernels are in ``change_evidence``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .change_evidence import (
    backscatter_step_scores,
    bracketing_pairs,
    coherence_interval_scores,
    coherence_pair_scores,
    nan_boxcar,
)

#: ``event_kind`` codes.
KIND_CODES = {"darkening": 1, "brightening": 2, "decorrelation": 3}
#: ``event_evidence`` bits.
EVIDENCE_BITS = {"coherence": 1, "vv": 2, "vh": 4}
#: Per-event layers of ``detect_block``'s output, in order.
EVENT_FIELDS = (
    "start",
    "end",
    "peak_start",
    "peak_end",
    "kind",
    "evidence",
    "score",
    "coherence_drop",
    "vv_db",
    "vh_db",
)


@dataclass(frozen=True)
class TrackTimes:
    """One track (relative orbit and direction) of the cube.

    Attributes:
        series: pair indices of each of its series (one temporal baseline), in time order.
        times: its acquisition times, seconds since 1970, ascending.
        dates: index of each acquisition among the block's backscatter dates (None: no
            backscatter evidence).
    """

    series: list[NDArray[np.intp]]
    times: NDArray[np.float64]
    dates: NDArray[np.intp] | None


@dataclass(frozen=True)
class DetectionSettings:
    """The detector's parameters (see ``detect_changes``)."""

    past_only: bool
    min_history: int
    smooth_px: int
    pool_px: int
    window: int
    z_threshold: float
    evidence_z: float
    min_spread: float
    min_spread_db: float
    max_events: int


@dataclass
class _Evidence:
    """Per interval of one track, ``(interval, y, x)`` each."""

    score: NDArray[np.float32]
    drop: NDArray[np.float32]
    steps_db: list[NDArray[np.float32]]  # per band, NaN without backscatter
    bits: NDArray[np.uint8]
    kind: NDArray[np.uint8]
    sign: NDArray[np.int8]  # sign of the fired backscatter step, 0 if none


def _track_evidence(
    track: TrackTimes,
    pair_z: NDArray[np.float32],
    pair_drop: NDArray[np.float32],
    level_db: NDArray[np.float32] | None,
    starts: NDArray[np.float64],
    ends: NDArray[np.float64],
    settings: DetectionSettings,
) -> _Evidence:
    pairs = np.concatenate(track.series)
    brackets = bracketing_pairs(track.times, starts, ends, pairs)
    loss, drop = coherence_interval_scores(pair_z, pair_drop, brackets)
    terms = [np.maximum(loss, 0.0)]
    steps_db = [np.full(loss.shape, np.nan, np.float32)] * 2
    step_z: list[NDArray[np.float32]] = []
    if level_db is not None and track.dates is not None:
        steps_db = []
        for band in range(level_db.shape[1]):
            z, step = backscatter_step_scores(
                level_db[track.dates, band],
                window=settings.window,
                past_only=settings.past_only,
                min_history=settings.min_history,
                min_spread_db=settings.min_spread_db,
                pool_px=settings.pool_px,
            )
            step_z.append(z)
            steps_db.append(step)
    stacked = np.stack(terms + [np.abs(z) for z in step_z])
    judged = np.isfinite(stacked).any(axis=0)
    squares = np.nansum(np.square(stacked), axis=0)
    score = np.where(judged, np.sqrt(squares), np.nan).astype(np.float32)
    fired = np.nan_to_num(stacked) >= settings.evidence_z
    largest = np.nan_to_num(stacked).argmax(axis=0)
    bits = np.zeros(score.shape, np.uint8)
    codes = list(EVIDENCE_BITS.values())
    for k in range(len(stacked)):
        bits |= np.where(fired[k] | (largest == k), codes[k], 0).astype(np.uint8)
    sign = np.zeros(score.shape, np.int8)
    if step_z:
        signed = np.stack([np.nan_to_num(z) for z in step_z])
        dominant = np.take_along_axis(signed, np.abs(signed).argmax(axis=0)[None], 0)[0]
        sign = np.where(np.abs(dominant) >= settings.evidence_z, np.sign(dominant), 0)
        sign = sign.astype(np.int8)
    kind = np.where(
        sign < 0,
        KIND_CODES["darkening"],
        np.where(sign > 0, KIND_CODES["brightening"], KIND_CODES["decorrelation"]),
    ).astype(np.uint8)
    return _Evidence(score, drop, steps_db, bits, kind, sign)


class _EventSlots:
    """Up to ``max_events`` events per pixel, in the order they are emitted."""

    def __init__(self, max_events: int, shape: tuple[int, int]) -> None:
        self.count = np.zeros(shape, np.int64)
        self.values = np.full((max_events, len(EVENT_FIELDS), *shape), np.nan)

    def emit(
        self,
        mask: NDArray[np.bool_],
        first: NDArray[np.intp],
        last: int,
        best: NDArray[np.intp],
        times: NDArray[np.float64],
        evidence: _Evidence,
    ) -> None:
        """Record, where ``mask``, the event of intervals ``first .. last`` peaking at ``best``."""
        room = mask & (self.count < len(self.values))
        if not room.any():
            return
        rows, cols = np.nonzero(room)
        j = best[rows, cols]
        slot = self.count[rows, cols]
        fields = (
            times[first[rows, cols]],
            times[last + 1],
            times[j],
            times[j + 1],
            evidence.kind[j, rows, cols],
            evidence.bits[j, rows, cols],
            evidence.score[j, rows, cols],
            evidence.drop[j, rows, cols],
            evidence.steps_db[0][j, rows, cols],
            evidence.steps_db[1][j, rows, cols],
        )
        for k, value in enumerate(fields):
            self.values[slot, k, rows, cols] = value
        self.count[rows, cols] += 1


def _cut_events(
    evidence: _Evidence, times: NDArray[np.float64], threshold: float, slots: _EventSlots
) -> None:
    """Runs of flagged intervals -> events, split where the backscatter step changes sign."""
    n_intervals, ny, nx = evidence.score.shape
    inside = np.zeros((ny, nx), bool)
    best = np.zeros((ny, nx), np.intp)
    first = np.zeros((ny, nx), np.intp)
    best_score = np.full((ny, nx), -np.inf)
    sign = np.zeros((ny, nx), np.int8)
    for j in range(n_intervals):
        score = np.nan_to_num(evidence.score[j], nan=-np.inf)
        flagged = score >= threshold
        flips = (sign != 0) & (evidence.sign[j] != 0) & (evidence.sign[j] != sign)
        going_on = inside & flagged & ~flips
        slots.emit(inside & ~going_on, first, j - 1, best, times, evidence)
        fresh = flagged & ~going_on
        first = np.where(fresh, j, first)
        better = fresh | (going_on & (score > best_score))
        best = np.where(better, j, best)
        best_score = np.where(better, score, best_score)
        sign = np.where(fresh | (going_on & (sign == 0)), evidence.sign[j], sign)
        inside = flagged
    slots.emit(inside, first, n_intervals - 1, best, times, evidence)


def detect_block(
    block: NDArray[np.float32],
    *,
    n_pairs: int,
    n_bands: int,
    tracks: list[TrackTimes],
    starts: NDArray[np.float64],
    ends: NDArray[np.float64],
    halo: int,
    settings: DetectionSettings,
    block_info: dict[Any, Any] | None = None,
) -> NDArray[np.float64]:
    """(pairs + dates x bands, y + halos, x + halos) -> (1 + events x fields, y, x).

    ``block``: the pairs' coherence, then (if ``n_bands``) the linear backscatter
    of every date, bands innermost. Output: the event count, then per event slot
    the ``EVENT_FIELDS`` (times in seconds since 1970, NaN in empty slots).
    """
    assert block_info is not None
    (y0, y1), (x0, x1) = block_info[None]["array-location"][1:]
    top, left = (halo if y0 > 0 else 0), (halo if x0 > 0 else 0)
    smooth = nan_boxcar(block[:n_pairs], settings.smooth_px)
    level_db = None
    if n_bands:
        backscatter = block[n_pairs:].reshape((-1, n_bands, *block.shape[1:]))
        with np.errstate(divide="ignore", invalid="ignore"):
            level_db = (10.0 * np.log10(nan_boxcar(backscatter, settings.smooth_px))).astype(
                np.float32
            )
    all_series = [s for track in tracks for s in track.series]
    pair_z, pair_drop = coherence_pair_scores(
        smooth,
        all_series,
        starts,
        ends,
        past_only=settings.past_only,
        min_history=settings.min_history,
        min_spread=settings.min_spread,
        pool_px=settings.pool_px,
    )
    slots = _EventSlots(settings.max_events, smooth.shape[1:])
    for track in tracks:
        evidence = _track_evidence(track, pair_z, pair_drop, level_db, starts, ends, settings)
        _cut_events(evidence, track.times, settings.z_threshold, slots)
    if len(tracks) > 1:  # earliest first across tracks
        order = np.argsort(np.nan_to_num(slots.values[:, 1], nan=np.inf), axis=0, kind="stable")
        slots.values = np.take_along_axis(slots.values, order[:, None], axis=0)
    out = np.concatenate(
        [slots.count[None].astype(np.float64), slots.values.reshape((-1, *smooth.shape[1:]))]
    )
    return out[:, top : top + (y1 - y0), left : left + (x1 - x0)]
