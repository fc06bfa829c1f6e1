"""Scoring change detection against the sample catalog's simulated change events.

The sample's truth collection holds a ``changes`` item: per pixel, the day
(after the first acquisition) a field changed and the kind of change. An
*event* is one changed field: a connected region of equal day and kind. An
event counts as found when at least ``min_share`` of its pixels are flagged
by a pair that brackets the event day; a false alarm is any flag on a pixel
whose field never changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from scipy import ndimage

from .truth import ChangeTruth


def _observable(
    pixels: NDArray[np.bool_],
    day: float,
    true_coherence: NDArray[np.float32],
    start_days: NDArray[np.float64],
    end_days: NDArray[np.float64],
    min_level: float,
) -> bool:
    """Whether the field had coherence to lose: its true level away from the event."""
    before = end_days <= day
    after = start_days >= day + 1
    side = before if before.any() else after
    if not side.any():
        return False
    level = np.nanmedian(np.nanmean(true_coherence[side][:, pixels], axis=1))
    return bool(level >= min_level)


def score_changes(
    changes: xr.Dataset,
    truth: ChangeTruth,
    min_share: float = 0.5,
    true_coherence: xr.DataArray | None = None,
    min_level: float = 0.15,
) -> dict[str, Any]:
    """Detection rate (events found) and false-alarm rate (unchanged pixels flagged).

    Args:
        changes: output of ``detect_changes`` on the sample's grid.
        truth: the sample's change events.
        min_share: share of an event's pixels that must be flagged in time.
        true_coherence: the sample's true coherence ``(pair, y, x)`` with
            ``reference_time``/``secondary_time``; when given, events are also
            scored among the *observable* ones: fields whose true coherence
            away from the event was at least ``min_level`` (a field with no
            coherence cannot lose it).
    """
    flagged = np.asarray(changes["change"].values, dtype=bool)
    if flagged.shape != truth.day.shape:
        raise ValueError(
            f"changes grid {flagged.shape} differs from the truth grid {truth.day.shape}"
        )
    one_day = np.timedelta64(1, "D")
    start_day = (changes["change_start"].values - truth.start) / one_day
    end_day = (changes["change_end"].values - truth.start) / one_day
    # The truth stores floor(day); the event lies in [day, day + 1).
    in_window = flagged & (start_day <= truth.day + 1) & (end_day >= truth.day)
    events = np.zeros(truth.day.shape, dtype=np.int64)
    count = 0
    code = truth.day.astype(np.int64) * 16 + truth.kind
    for value in np.unique(code[truth.day >= 0]):
        labels, n = ndimage.label(code == value)
        events[labels > 0] = labels[labels > 0] + count
        count += n
    by_kind: dict[str, list[int]] = {}
    found = 0
    observable = [0, 0]
    if true_coherence is not None:
        values = np.asarray(true_coherence.values, dtype=np.float32)
        starts = (true_coherence["reference_time"].values - truth.start) / one_day
        ends = (true_coherence["secondary_time"].values - truth.start) / one_day
    for label in range(1, count + 1):
        pixels = events == label
        hit = bool(in_window[pixels].mean() >= min_share)
        found += hit
        event_day = float(truth.day[pixels][0])
        if true_coherence is not None and _observable(
            pixels, event_day, values, starts, ends, min_level
        ):
            observable[0] += hit
            observable[1] += 1
        name = truth.kinds.get(int(truth.kind[pixels][0]), "?")
        tally = by_kind.setdefault(name, [0, 0])
        tally[0] += hit
        tally[1] += 1
    unchanged = truth.day < 0
    extra: dict[str, Any] = {}
    if true_coherence is not None:
        extra = {
            "observable_events": observable[1],
            "observable_events_found": observable[0],
            "observable_detection_rate": observable[0] / observable[1]
            if observable[1]
            else float("nan"),
            "observable_min_level": min_level,
        }
    return {
        "events": count,
        "events_found": found,
        "detection_rate": found / count if count else float("nan"),
        "false_alarm_rate": float(flagged[unchanged].mean()),
        "unchanged_pixels": int(unchanged.sum()),
        "detection_by_kind": {k: {"found": v[0], "events": v[1]} for k, v in by_kind.items()},
        "min_share": min_share,
        **extra,
    }
