"""Simulating the sample's region: one scene, its change events and every acquisition.

Blocks x polarisations of the region are simulated in parallel processes,
each from its own seed, so the result does not depend on the worker count.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cohcube.model.physics.change_events import (
    ChangeEvent,
    FieldState,
    field_states,
    plan_change_events,
)
from cohcube.model.physics.landcover import Scene, generate_scene
from cohcube.model.physics.simulator import acquire_states, random_offset

from .spec import SampleSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulatedSample:
    """The simulated region.

    Attributes:
        scene: land cover and fields.
        events: change events between the first and last acquisition.
        states: field state at each acquisition.
        backscatter: ``(n_dates, 2, size, size)`` float32 linear VV, VH.
    """

    scene: Scene
    events: list[ChangeEvent]
    states: list[FieldState]
    backscatter: NDArray[np.float32]


def simulate_ground(
    spec: SampleSpec,
) -> tuple[Scene, list[ChangeEvent], list[FieldState], np.random.Generator]:
    """What the ground of ``spec`` does: scene, events, field state per acquisition.

    A pure function of the spec (the truth's noise-free backscatter is drawn
    again from it); the generator returned continues the same random stream.
    """
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 0]))
    scene = generate_scene((spec.size_px, spec.size_px), rng, pixel_m=spec.pixel_m)
    days = [d for d, _ in spec.acquisition_days()]
    events = plan_change_events(scene, days[0], days[-1], spec.change_probability, rng)
    states = field_states(scene, days, events, rng)
    return scene, events, states, rng


def simulate_sample(spec: SampleSpec) -> SimulatedSample:
    """Scene, events, field states, misregistration and backscatter of ``spec``."""
    scene, events, states, rng = simulate_ground(spec)
    days = [state.day for state in states]
    offsets = [random_offset(spec.max_misregistration_px, rng) for _ in days]
    log.info(
        "simulating %d acquisitions of %d x %d px (VV+VH)", len(days), spec.size_px, spec.size_px
    )
    return SimulatedSample(scene, events, states, _simulate(spec, scene, states, offsets))


def _simulate_block(
    task: tuple[Scene, list[FieldState], list[tuple[float, float]], str, np.random.SeedSequence],
) -> NDArray[np.float32]:
    scene, states, offsets, pol, seed = task
    rng = np.random.default_rng(seed)
    acquisitions = acquire_states(scene, states, rng, polarizations=(pol,), offsets_px=offsets)
    return np.stack([a.intensity[0] for a in acquisitions])


def _simulate(
    spec: SampleSpec, scene: Scene, states: list[FieldState], offsets: list[tuple[float, float]]
) -> NDArray[np.float32]:
    """Backscatter ``(n_dates, 2, size, size)``; blocks x polarisations run in parallel."""
    size, block = spec.size_px, spec.block_px
    pols = ("VV", "VH")
    cells = [
        (by, bx, p)
        for by in range(0, size, block)
        for bx in range(0, size, block)
        for p in range(len(pols))
    ]
    tasks = [
        (
            scene.crop(slice(by, by + block), slice(bx, bx + block)),
            states,
            offsets,
            pols[p],
            np.random.SeedSequence([spec.seed, 1, by, bx, p]),
        )
        for by, bx, p in cells
    ]
    if spec.workers > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(spec.workers, mp_context=context) as pool:
            results = list(pool.map(_simulate_block, tasks))
    else:
        results = [_simulate_block(t) for t in tasks]
    out = np.empty((len(states), len(pols), size, size), dtype=np.float32)
    for (by, bx, p), result in zip(cells, results, strict=True):
        out[:, p, by : by + result.shape[1], bx : bx + result.shape[2]] = result
    return out
