"""A second scene generator with other statistics, for testing on ground no model was trained on.

``cohcube evaluate --scenes alt`` scores a model on these scenes; training never
draws them. Compared with ``generate_scene`` and the training pairs: other
class tables (brighter crops and bare soil, more coherent towns, slower crops,
stronger texture and jitter), other landscapes (plains, woodland, suburbs,
wetland), elongated strip parcels in a rotated grid instead of Voronoi cells,
texture correlated over 3 px instead of 1.5, and a Rayleigh-distributed
misregistration (0.45 px mode, up to 1.5 px) instead of a length uniform up to 1 px.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .landcover import POLARIZATIONS, ClassPhysics, LandCover, Scene, generate_scene
from .simulator import SimulatedPair, simulate_pair

ALT_CLASS_PHYSICS: dict[LandCover, ClassPhysics] = {
    LandCover.WATER: ClassPhysics((-19.0, 3.0), (-8.0, 1.5), (0.5, 40.0), (1.0, 0.4), 0.8, 2.5),
    LandCover.URBAN: ClassPhysics((1.0, 2.5), (-9.0, 1.5), (12.0, 4.0), (60.0, 0.6), 5.0, 0.4),
    LandCover.BARE_SOIL: ClassPhysics((-11.5, 3.0), (-7.0, 2.0), (4.0, 6.0), (20.0, 0.6), 1.5, 1.5),
    LandCover.CROPS: ClassPhysics((-8.5, 2.5), (-5.0, 2.0), (1.5, 12.0), (15.0, 0.5), 1.5, 1.2),
    LandCover.FOREST: ClassPhysics((-8.0, 1.5), (-6.0, 1.0), (1.5, 20.0), (8.0, 0.5), 2.0, 0.6),
}
ALT_LANDSCAPES: dict[str, dict[LandCover, float]] = {
    "plain": {
        LandCover.CROPS: 0.5,
        LandCover.BARE_SOIL: 0.3,
        LandCover.FOREST: 0.1,
        LandCover.URBAN: 0.05,
        LandCover.WATER: 0.05,
    },
    "woodland": {
        LandCover.FOREST: 0.7,
        LandCover.CROPS: 0.15,
        LandCover.BARE_SOIL: 0.1,
        LandCover.WATER: 0.05,
    },
    "suburb": {
        LandCover.URBAN: 0.5,
        LandCover.BARE_SOIL: 0.25,
        LandCover.CROPS: 0.2,
        LandCover.WATER: 0.05,
    },
    "wetland": {LandCover.WATER: 0.5, LandCover.CROPS: 0.2, LandCover.BARE_SOIL: 0.3},
}
ALT_LANDSCAPE_WEIGHTS = {"plain": 0.4, "woodland": 0.2, "suburb": 0.25, "wetland": 0.15}
#: Strip parcels: row height and the range of parcel lengths along a row, pixels.
STRIP_ROW_PX = 18.0
STRIP_LENGTH_PX = (25.0, 80.0)
#: Misregistration: Rayleigh scale and cap, GRD pixels.
SHIFT_SCALE_PX = 0.45
SHIFT_MAX_PX = 1.5


def strip_parcels(shape: tuple[int, int], rng: np.random.Generator) -> NDArray[np.int32]:
    """Field ids of elongated parcels: rows of strips in a grid rotated by a random angle."""
    angle = rng.uniform(0.0, np.pi)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    along = xx * np.cos(angle) + yy * np.sin(angle)
    across = -xx * np.sin(angle) + yy * np.cos(angle)
    row = np.floor((across - across.min()) / STRIP_ROW_PX).astype(np.int64)
    n_rows = int(row.max()) + 1
    length = rng.uniform(*STRIP_LENGTH_PX, size=n_rows)
    offset = rng.uniform(0.0, 1.0, size=n_rows) * length
    column = np.floor((along - along.min() + offset[row]) / length[row]).astype(np.int64)
    _, labels = np.unique(row * (column.max() + 1) + column, return_inverse=True)
    return labels.reshape(shape).astype(np.int32)


def generate_alt_scene(shape: tuple[int, int], rng: np.random.Generator) -> Scene:
    """A scene with the alternative statistics (``ALT_*``, strip parcels, 3 px texture)."""
    return generate_scene(
        shape,
        rng,
        landscape_size_px=200.0,
        texture_correlation_px=3.0,
        physics=ALT_CLASS_PHYSICS,
        landscapes=ALT_LANDSCAPES,
        landscape_weights=ALT_LANDSCAPE_WEIGHTS,
        field_layout=strip_parcels,
    )


def alt_shift(rng: np.random.Generator) -> tuple[float, float]:
    """A misregistration of Rayleigh length (scale ``SHIFT_SCALE_PX``, capped) and any direction."""
    length = min(float(rng.rayleigh(SHIFT_SCALE_PX)), SHIFT_MAX_PX)
    angle = rng.uniform(0.0, 2 * np.pi)
    return (length * float(np.sin(angle)), length * float(np.cos(angle)))


def simulate_alt_pair(
    shape: tuple[int, int],
    baseline_days: float,
    *,
    seed: np.random.SeedSequence | int,
    polarizations: Sequence[str] = POLARIZATIONS,
    change_probability: float = 0.1,
) -> SimulatedPair:
    """One pair of an alternative scene, as ``simulate_pair`` returns it."""
    rng = np.random.default_rng(seed)
    scene = generate_alt_scene(shape, rng)
    return simulate_pair(
        shape,
        baseline_days,
        seed=rng,
        polarizations=polarizations,
        change_probability=change_probability,
        scene=scene,
        misregistration_px=alt_shift(rng),
    )
