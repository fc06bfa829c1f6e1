"""Scoring change detection against the sample catalog's simulated change events.

The sample's truth collection holds a ``changes`` item: per pixel, the day
(after the first acquisition) a field changed, the kind of change, and the
day a flood receded. An *event* is one changed field (a connected region of
equal day and kind), or one flood's recession before the last acquisition.
An event counts as found when at least ``min_share`` of its pixels carry a
detected event whose interval brackets the event day; a false alarm is any
detected event on a pixel whose field never changed.
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


Region = tuple[slice, slice]


def _regions(mask: NDArray[np.bool_]) -> list[tuple[Region, NDArray[np.bool_]]]:
    """Connected regions of ``mask``: each one's bounding box and its pixels inside the box."""
    labels, _ = ndimage.label(mask)
    found = []
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is not None:
            found.append(((box[0], box[1]), labels[box] == label))
    return found


def _truth_events(truth: ChangeTruth) -> list[tuple[str, float, Region, NDArray[np.bool_]]]:
    """(kind, day, box, pixels in the box) of every event: each changed field, and each
    flood's recession before the last acquisition (a second event of the same field)."""
    last_day = (truth.end - truth.start) / np.timedelta64(1, "D")
    found: list[tuple[str, float, Region, NDArray[np.bool_]]] = []
    code = truth.day.astype(np.int64) * 16 + truth.kind
    for value in np.unique(code[truth.day >= 0]):
        for box, pixels in _regions(code == value):
            name = truth.kinds.get(int(truth.kind[box][pixels][0]), "?")
            found.append((name, float(truth.day[box][pixels][0]), box, pixels))
    receded = (truth.recession_day >= 0) & (truth.recession_day < last_day)
    for value in np.unique(truth.recession_day[receded]):
        found.extend(
            ("flood recession", float(value), box, pixels)
            for box, pixels in _regions(receded & (truth.recession_day == value))
        )
    return found


def score_changes(
    changes: xr.Dataset,
    truth: ChangeTruth,
    min_share: float = 0.5,
    true_coherence: xr.DataArray | None = None,
    min_level: float = 0.15,
) -> dict[str, Any]:
    """Detection rate (events found, also per kind) and false-alarm rate (unchanged pixels flagged).

    An event is found when at least ``min_share`` of its pixels carry a detected
    event whose span (``event_start`` .. ``event_end``) brackets its day, and
    *dated at its peak* when their peak interval does (``dated_at_peak_rate``);
    a false alarm is any detected event on a pixel whose field never changed.

    Args:
        changes: output of ``detect_changes`` on the sample's grid.
        truth: the sample's change events (a flood's recession is an event of its own).
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
    start_day = (changes["event_start"].values - truth.start) / one_day  # (event, y, x)
    end_day = (changes["event_end"].values - truth.start) / one_day
    peak_start = (changes["event_peak_start"].values - truth.start) / one_day
    peak_end = (changes["event_peak_end"].values - truth.start) / one_day
    if true_coherence is not None:
        values = np.asarray(true_coherence.values, dtype=np.float32)
        starts = (true_coherence["reference_time"].values - truth.start) / one_day
        ends = (true_coherence["secondary_time"].values - truth.start) / one_day
    by_kind: dict[str, list[int]] = {}
    observable = [0, 0]
    dated = 0
    events = _truth_events(truth)
    for name, day, box, pixels in events:
        # The truth stores floor(day); the event lies in [day, day + 1).
        starts_in, ends_in = start_day[:, box[0], box[1]], end_day[:, box[0], box[1]]
        in_window = (starts_in[:, pixels] <= day + 1) & (ends_in[:, pixels] >= day)
        hit = bool(in_window.any(axis=0).mean() >= min_share)
        at_peak = (peak_start[:, box[0], box[1]][:, pixels] <= day + 1) & (
            peak_end[:, box[0], box[1]][:, pixels] >= day
        )
        dated += bool(at_peak.any(axis=0).mean() >= min_share)
        tally = by_kind.setdefault(name, [0, 0])
        tally[0] += hit
        tally[1] += 1
        crop = values[:, box[0], box[1]] if true_coherence is not None else None
        if crop is not None and _observable(pixels, day, crop, starts, ends, min_level):
            observable[0] += hit
            observable[1] += 1
    unchanged = truth.day < 0
    found = sum(v[0] for v in by_kind.values())
    spans = (end_day - start_day)[np.isfinite(start_day)]
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
        "events": len(events),
        "events_found": found,
        "detection_rate": found / len(events) if events else float("nan"),
        "dated_at_peak_rate": dated / len(events) if events else float("nan"),
        "false_alarm_rate": float(flagged[unchanged].mean()),
        "unchanged_pixels": int(unchanged.sum()),
        "detection_by_kind": {
            k: {"found": v[0], "events": v[1], "rate": round(v[0] / v[1], 3)}
            for k, v in sorted(by_kind.items())
        },
        "min_share": min_share,
        "median_event_span_days": float(np.median(spans)) if spans.size else float("nan"),
        **extra,
    }
