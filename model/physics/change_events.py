"""What the ground does between acquisitions: per-acquisition field states and change events.

A field's scatterers persist (with exponential temporal decorrelation) within
an *epoch*; a change event (harvest, flood, construction) starts a new epoch,
so every pair of acquisitions that straddles it has zero temporal coherence,
and gives the field the parameters of its new class.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from .landcover import FieldParameters, LandCover, Scene


class ChangeKind(StrEnum):
    """Kinds of change event."""

    HARVEST = "harvest"  # crops or forest cut: vegetation -> bare soil
    FLOOD = "flood"  # land under water for a while, then a new surface
    CONSTRUCTION = "construction"  # bare soil -> built-up


#: Which events each class can undergo, with relative odds.
EVENT_ODDS: dict[LandCover, dict[ChangeKind, float]] = {
    LandCover.CROPS: {ChangeKind.HARVEST: 0.75, ChangeKind.FLOOD: 0.25},
    LandCover.FOREST: {ChangeKind.HARVEST: 0.6, ChangeKind.FLOOD: 0.4},
    LandCover.BARE_SOIL: {ChangeKind.CONSTRUCTION: 0.5, ChangeKind.FLOOD: 0.5},
}
FLOOD_DURATION_DAYS: tuple[float, float] = (4.0, 40.0)


@dataclass(frozen=True)
class ChangeEvent:
    """One change of one field.

    Attributes:
        field: field id.
        day: day of the event (same time axis as the acquisitions).
        kind: what happened.
        duration_days: how long the field stays flooded (floods only).
    """

    field: int
    day: float
    kind: ChangeKind
    duration_days: float = 0.0


@dataclass
class FieldState:
    """Parameters of every field at one acquisition.

    Attributes:
        day: acquisition day.
        fields: class and radar parameters per field (sigma0 includes this
            acquisition's jitter).
        epoch: scatterer epoch per field; coherence is zero across epochs.
    """

    day: float
    fields: FieldParameters
    epoch: NDArray[np.int32]


def plan_change_events(
    scene: Scene,
    start_day: float,
    end_day: float,
    probability: float,
    rng: np.random.Generator,
) -> list[ChangeEvent]:
    """Draw change events: each eligible field changes with ``probability``.

    The event day is uniform in ``(start_day, end_day)``; the kind follows
    ``EVENT_ODDS`` of the field's initial class (water and urban do not change).
    """
    events: list[ChangeEvent] = []
    if probability <= 0 or end_day <= start_day:
        return events
    present = np.unique(scene.field_id)
    for field in present:
        odds = EVENT_ODDS.get(LandCover(int(scene.fields.land_cover[field])))
        if odds is None or rng.random() >= probability:
            continue
        kinds = list(odds)
        kind = kinds[int(rng.choice(len(kinds), p=np.array(list(odds.values()))))]
        day = float(rng.uniform(start_day, end_day))
        duration = float(rng.uniform(*FLOOD_DURATION_DAYS)) if kind is ChangeKind.FLOOD else 0.0
        events.append(ChangeEvent(int(field), day, kind, duration))
    return events


def _transitions(events: Sequence[ChangeEvent]) -> list[tuple[float, int, LandCover | None]]:
    """(day, field, new class or None = back to the pre-flood class) in time order."""
    steps: list[tuple[float, int, LandCover | None]] = []
    for ev in events:
        if ev.kind is ChangeKind.HARVEST:
            steps.append((ev.day, ev.field, LandCover.BARE_SOIL))
        elif ev.kind is ChangeKind.CONSTRUCTION:
            steps.append((ev.day, ev.field, LandCover.URBAN))
        else:
            steps.append((ev.day, ev.field, LandCover.WATER))
            steps.append((ev.day + ev.duration_days, ev.field, None))
    return sorted(steps, key=lambda s: s[0])


def field_states(
    scene: Scene,
    days: Sequence[float],
    events: Sequence[ChangeEvent],
    rng: np.random.Generator,
) -> list[FieldState]:
    """Field parameters at each acquisition day (ascending), events applied.

    After a flood recedes the field returns to its pre-flood class with
    freshly drawn parameters, in a new epoch.
    """
    day_list = [float(d) for d in days]
    if any(b < a for a, b in itertools.pairwise(day_list)):
        raise ValueError("acquisition days must be ascending")
    current = scene.fields.copy()
    pre_flood: dict[int, LandCover] = {}
    epoch = np.zeros(len(current.land_cover), dtype=np.int32)
    steps = _transitions(events)
    jitter_sd = np.array(
        [scene.physics[LandCover(c)].acquisition_jitter_db for c in range(len(LandCover))]
    )
    states: list[FieldState] = []
    k = 0
    for day in day_list:
        while k < len(steps) and steps[k][0] <= day:
            _, field, new_class = steps[k]
            k += 1
            if new_class is LandCover.WATER:
                pre_flood[field] = LandCover(int(current.land_cover[field]))
            target = new_class if new_class is not None else pre_flood.pop(field)
            current.redraw(np.array([field]), target, rng, scene.physics)
            epoch[field] += 1
        snapshot = current.copy()
        # One draw per field for both polarisations: moisture or wind moves them together.
        jitter = rng.normal(size=len(snapshot.land_cover)) * jitter_sd[snapshot.land_cover]
        snapshot.sigma0_db += jitter[:, None]
        states.append(FieldState(day=day, fields=snapshot, epoch=epoch.copy()))
    return states
