"""Simulated Sentinel-1 IW acquisitions and pairs with known coherence.

``simulate_series`` turns a scene and a list of acquisition days into detected
GRD-like images (one coregistered SLC stack underneath); ``simulate_pair`` is
the two-date case with everything a training sample needs: both detected
images, the SLC sample-coherence target, the true coherence and the class map.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .change_events import ChangeEvent, FieldState, field_states, plan_change_events
from .decorrelation import temporal_coherence, thermal_coherence
from .detection import coherence_target, detect
from .landcover import Scene, backscatter_map, generate_scene
from .sensor import SensorGeometry, SlcGrid
from .speckle import Complex, SlcStackSimulator


def field_temporal_coherence(first: FieldState, second: FieldState) -> NDArray[np.float64]:
    """Temporal coherence of every field between two acquisitions, ``(n_fields,)``.

    Zero where a change event separates the two acquisitions.
    """
    # Within one epoch a field keeps its gamma_inf and tau, so either state serves.
    return np.where(
        first.epoch == second.epoch,
        temporal_coherence(second.day - first.day, second.fields.gamma_inf, second.fields.tau_days),
        0.0,
    )


def thermal_coherence_map(
    scene: Scene, first: FieldState, second: FieldState, polarization: str, nesz_db: float
) -> NDArray[np.float64]:
    """Thermal-noise coherence of every GRD pixel between two acquisitions, ``scene.shape``."""
    return thermal_coherence(
        backscatter_map(scene, first.fields, polarization),
        backscatter_map(scene, second.fields, polarization),
        nesz_db,
    )


def true_coherence(
    scene: Scene, first: FieldState, second: FieldState, polarization: str, nesz_db: float
) -> NDArray[np.float32]:
    """Coherence magnitude between two acquisitions per GRD pixel (temporal x thermal).

    Zero temporal coherence where a change event separates the two acquisitions.
    """
    temporal = field_temporal_coherence(first, second)[scene.field_id]
    thermal = thermal_coherence_map(scene, first, second, polarization, nesz_db)
    return (temporal * thermal).astype(np.float32)


@dataclass
class SimulatedAcquisition:
    """One detected acquisition.

    Attributes:
        state: the ground at this acquisition.
        intensity: detected backscatter, linear power, ``(n_pol, ny, nx)`` float32.
        offset_px: ``(dy, dx)`` misregistration of its grid, GRD pixels.
        slc: the underlying SLC images per polarisation (only if asked for).
    """

    state: FieldState
    intensity: NDArray[np.float32]
    offset_px: tuple[float, float]
    slc: dict[str, Complex] | None = None


def random_offset(max_px: float, rng: np.random.Generator) -> tuple[float, float]:
    """A misregistration of uniform length in ``[0, max_px]`` and uniform direction."""
    length = rng.uniform(0.0, max_px)
    angle = rng.uniform(0.0, 2 * np.pi)
    return (float(length * np.sin(angle)), float(length * np.cos(angle)))


def slc_grid_for(
    scene: Scene, geometry: SensorGeometry, offsets_px: Sequence[tuple[float, float]]
) -> SlcGrid:
    """The SLC grid covering ``scene`` with margin for the largest of ``offsets_px``."""
    max_offset = max((max(abs(o[0]), abs(o[1])) for o in offsets_px), default=0.0)
    return SlcGrid.covering(geometry, scene.shape, max_offset_px=max_offset + 0.5)


def simulate_series(
    scene: Scene,
    days: Sequence[float],
    rng: np.random.Generator,
    *,
    events: Sequence[ChangeEvent] = (),
    polarizations: Sequence[str] = ("VV",),
    offsets_px: Sequence[tuple[float, float]] | None = None,
    geometry: SensorGeometry | None = None,
    keep_slc: bool = False,
) -> Iterator[SimulatedAcquisition]:
    """Detected acquisitions of ``scene`` at ``days`` (ascending), lazily one by one.

    Args:
        scene: the ground.
        days: acquisition days, ascending.
        rng: random generator.
        events: change events on the same time axis.
        polarizations: channels, subset of ``("VV", "VH")``.
        offsets_px: per-acquisition ``(dy, dx)`` grid shift, GRD pixels (default none).
        geometry: sensor geometry (default Sentinel-1 IW).
        keep_slc: also return the SLC images (memory: ~8 bytes x 4.4 samples per pixel).
    """
    states = field_states(scene, days, events, rng)
    return acquire_states(
        scene,
        states,
        rng,
        polarizations=polarizations,
        offsets_px=offsets_px,
        geometry=geometry,
        keep_slc=keep_slc,
    )


def acquire_states(
    scene: Scene,
    states: Sequence[FieldState],
    rng: np.random.Generator,
    *,
    polarizations: Sequence[str] = ("VV",),
    offsets_px: Sequence[tuple[float, float]] | None = None,
    geometry: SensorGeometry | None = None,
    keep_slc: bool = False,
) -> Iterator[SimulatedAcquisition]:
    """Detected acquisitions for given field states (ascending days), lazily.

    The states fix what the ground does (so several workers can simulate parts
    of one scene consistently); ``rng`` only draws the speckle and noise.
    Arguments otherwise as in ``simulate_series``.
    """
    geometry = geometry or SensorGeometry()
    offsets = list(offsets_px) if offsets_px is not None else [(0.0, 0.0)] * len(states)
    if len(offsets) != len(states):
        raise ValueError("offsets_px must give one (dy, dx) per acquisition")
    grid = slc_grid_for(scene, geometry, offsets)
    stack = SlcStackSimulator(scene, grid, rng, polarizations)
    for state, offset in zip(states, offsets, strict=True):
        slc = stack.acquire(state)
        intensity = np.stack([detect(slc[p], grid, offset) for p in polarizations])
        yield SimulatedAcquisition(state, intensity, offset, slc if keep_slc else None)


@dataclass
class SimulatedPair:
    """A simulated interferometric pair on the GRD grid.

    Attributes:
        reference, secondary: detected images, linear power, ``(n_pol, ny, nx)`` float32.
        coherence_target: SLC sample coherence (the training target), ``(n_pol, ny, nx)``.
        coherence_true: the true coherence, ``(n_pol, ny, nx)``.
        land_cover: class of every pixel at the reference date, ``(ny, nx)`` int8.
        changed: pixels whose field changed between the dates, ``(ny, nx)`` bool.
        baseline_days: temporal baseline, days.
        misregistration_px: ``(dy, dx)`` shift of the secondary grid, GRD pixels.
        polarizations: channel names.
        scene: the ground (field map, initial field parameters, texture).
        states: the field states at the two dates (with change events applied).
    """

    reference: NDArray[np.float32]
    secondary: NDArray[np.float32]
    coherence_target: NDArray[np.float32]
    coherence_true: NDArray[np.float32]
    land_cover: NDArray[np.int8]
    changed: NDArray[np.bool_]
    baseline_days: float
    misregistration_px: tuple[float, float]
    polarizations: tuple[str, ...]
    scene: Scene
    states: tuple[FieldState, FieldState]


def simulate_pair(
    shape: tuple[int, int] = (256, 256),
    baseline_days: float = 12.0,
    *,
    seed: int | np.random.Generator | None = None,
    polarizations: Sequence[str] = ("VV",),
    max_misregistration_px: float = 1.0,
    change_probability: float = 0.1,
    scene: Scene | None = None,
    geometry: SensorGeometry | None = None,
    misregistration_px: tuple[float, float] | None = None,
) -> SimulatedPair:
    """Simulate one pair of detected acquisitions ``baseline_days`` apart.

    Args:
        shape: ``(ny, nx)`` GRD pixels at 10 m.
        baseline_days: temporal baseline in days (> 0).
        seed: seed or generator; equal seeds give equal pairs.
        polarizations: channels, subset of ``("VV", "VH")``.
        max_misregistration_px: largest secondary-grid shift, GRD pixels
            (0 for perfectly aligned GRDs).
        change_probability: chance that an eligible field changes between dates.
        scene: ground to use (default: a fresh ``generate_scene``).
        geometry: sensor geometry (default Sentinel-1 IW).
        misregistration_px: the secondary's ``(dy, dx)`` shift (default: drawn by
            ``random_offset`` up to ``max_misregistration_px``).
    """
    if baseline_days <= 0:
        raise ValueError(f"baseline_days must be > 0, got {baseline_days}")
    rng = np.random.default_rng(seed)
    geometry = geometry or SensorGeometry()
    scene = scene or generate_scene(shape, rng, pixel_m=geometry.grd_pixel_m)
    events = plan_change_events(scene, 0.0, baseline_days, change_probability, rng)
    shift = (
        misregistration_px
        if misregistration_px is not None
        else random_offset(max_misregistration_px, rng)
    )
    offsets = [(0.0, 0.0), shift]
    first, second = simulate_series(
        scene,
        (0.0, baseline_days),
        rng,
        events=events,
        polarizations=polarizations,
        offsets_px=offsets,
        geometry=geometry,
        keep_slc=True,
    )
    slc1, slc2 = first.slc or {}, second.slc or {}
    grid = slc_grid_for(scene, geometry, offsets)
    target = np.stack([coherence_target(slc1[p], slc2[p], grid) for p in polarizations])
    truth = np.stack(
        [
            true_coherence(scene, first.state, second.state, p, geometry.nesz_db)
            for p in polarizations
        ]
    )
    changed = (first.state.epoch != second.state.epoch)[scene.field_id]
    return SimulatedPair(
        reference=first.intensity,
        secondary=second.intensity,
        coherence_target=target,
        coherence_true=truth,
        land_cover=scene.land_cover_map(first.state.fields),
        changed=changed,
        baseline_days=float(baseline_days),
        misregistration_px=offsets[1],
        polarizations=tuple(polarizations),
        scene=scene,
        states=(first.state, second.state),
    )
