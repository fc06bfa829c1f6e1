"""Synthetic land-cover scenes: fields, their classes and their radar physics.

A scene is a mosaic of fields (Voronoi parcels of about ``field_size_px``)
grouped into landscapes (agricultural plains, forests, towns, lakes). Every
field draws its own backscatter, long-term coherence and decorrelation time
from its class's distribution, so two crop fields never look identical; a
spatially correlated texture field adds variation inside fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from .radiometry import db_to_linear

#: Polarisations the simulator knows, in channel order.
POLARIZATIONS: tuple[str, ...] = ("VV", "VH")


class LandCover(IntEnum):
    """Land-cover classes of the simulator."""

    WATER = 0
    URBAN = 1
    BARE_SOIL = 2
    CROPS = 3
    FOREST = 4


@dataclass(frozen=True)
class ClassPhysics:
    """Distributions of a class's radar parameters across fields (C band).

    Attributes:
        sigma0_vv_db: mean and spread (dB) of a field's VV backscatter.
        vh_minus_vv_db: mean and spread (dB) of the VH/VV ratio.
        gamma_inf_beta: Beta(a, b) of the long-term coherence ``gamma_inf``.
        tau_days: median and log-spread of the decorrelation time ``tau`` (days).
        texture_db: spread (dB) of the multiplicative texture inside a field.
        acquisition_jitter_db: spread (dB) of a field's backscatter from one
            acquisition to the next (moisture, wind, phenology).
    """

    sigma0_vv_db: tuple[float, float]
    vh_minus_vv_db: tuple[float, float]
    gamma_inf_beta: tuple[float, float]
    tau_days: tuple[float, float]
    texture_db: float
    acquisition_jitter_db: float


#: A class table: the radar parameter distributions of every class.
ClassTable = Mapping[LandCover, ClassPhysics]

CLASS_PHYSICS: dict[LandCover, ClassPhysics] = {
    LandCover.WATER: ClassPhysics((-21.0, 2.5), (-7.0, 1.0), (0.5, 60.0), (0.5, 0.3), 0.5, 2.0),
    LandCover.URBAN: ClassPhysics((-1.0, 3.0), (-8.0, 2.0), (9.0, 5.0), (40.0, 0.5), 4.0, 0.3),
    LandCover.BARE_SOIL: ClassPhysics((-13.0, 2.5), (-8.0, 1.5), (6.0, 6.0), (30.0, 0.5), 1.0, 1.0),
    LandCover.CROPS: ClassPhysics((-10.0, 2.0), (-6.0, 1.5), (1.0, 15.0), (10.0, 0.4), 1.0, 1.0),
    LandCover.FOREST: ClassPhysics((-7.5, 1.0), (-5.5, 0.7), (1.0, 30.0), (5.0, 0.4), 1.5, 0.4),
}

#: Class probabilities of the fields inside each landscape type.
LANDSCAPES: dict[str, dict[LandCover, float]] = {
    "agricultural": {
        LandCover.CROPS: 0.62,
        LandCover.BARE_SOIL: 0.2,
        LandCover.FOREST: 0.1,
        LandCover.URBAN: 0.05,
        LandCover.WATER: 0.03,
    },
    "forest": {
        LandCover.FOREST: 0.8,
        LandCover.CROPS: 0.1,
        LandCover.BARE_SOIL: 0.06,
        LandCover.WATER: 0.04,
    },
    "town": {
        LandCover.URBAN: 0.7,
        LandCover.BARE_SOIL: 0.15,
        LandCover.CROPS: 0.1,
        LandCover.WATER: 0.05,
    },
    "lake": {LandCover.WATER: 0.9, LandCover.BARE_SOIL: 0.1},
}
LANDSCAPE_WEIGHTS: dict[str, float] = {
    "agricultural": 0.45,
    "forest": 0.25,
    "town": 0.18,
    "lake": 0.12,
}


@dataclass
class FieldParameters:
    """Radar parameters of every field, index = field id.

    Attributes:
        land_cover: class per field, shape ``(n_fields,)``.
        sigma0_db: backscatter per field and polarisation (VV, VH), dB, ``(n_fields, 2)``.
        gamma_inf: long-term coherence per field, ``(n_fields,)``.
        tau_days: decorrelation time per field, days, ``(n_fields,)``.
    """

    land_cover: NDArray[np.int8]
    sigma0_db: NDArray[np.float64]
    gamma_inf: NDArray[np.float64]
    tau_days: NDArray[np.float64]

    def copy(self) -> FieldParameters:
        return FieldParameters(
            self.land_cover.copy(),
            self.sigma0_db.copy(),
            self.gamma_inf.copy(),
            self.tau_days.copy(),
        )

    def redraw(
        self,
        fields: NDArray[np.intp],
        land_cover: LandCover,
        rng: np.random.Generator,
        physics: ClassTable | None = None,
    ) -> None:
        """Give ``fields`` the class ``land_cover``, parameters drawn afresh from ``physics``."""
        fresh = draw_field_parameters(np.full(len(fields), land_cover, dtype=np.int8), rng, physics)
        self.land_cover[fields] = fresh.land_cover
        self.sigma0_db[fields] = fresh.sigma0_db
        self.gamma_inf[fields] = fresh.gamma_inf
        self.tau_days[fields] = fresh.tau_days


@dataclass
class Scene:
    """A synthetic scene on a GRD grid.

    Attributes:
        field_id: field index of every pixel, ``(ny, nx)`` int32.
        fields: parameters of the fields at the start of the time series.
        texture: unit-variance Gaussian field, ``(ny, nx)`` float32; the
            multiplicative texture of a pixel is lognormal with its class's spread.
        pixel_m: pixel size, metres.
        physics: the class table the scene's fields are drawn from (texture
            spread, acquisition jitter, and the parameters of fields a change redraws).
    """

    field_id: NDArray[np.int32]
    fields: FieldParameters
    texture: NDArray[np.float32]
    pixel_m: float = 10.0
    physics: ClassTable = field(default_factory=lambda: CLASS_PHYSICS)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.field_id.shape[0]), int(self.field_id.shape[1]))

    def crop(self, rows: slice, cols: slice) -> Scene:
        """The part of the scene in ``rows`` x ``cols`` (fields keep their ids)."""
        return Scene(
            field_id=self.field_id[rows, cols],
            fields=self.fields,
            texture=self.texture[rows, cols],
            pixel_m=self.pixel_m,
            physics=self.physics,
        )

    def land_cover_map(self, fields: FieldParameters | None = None) -> NDArray[np.int8]:
        """Class of every pixel, ``(ny, nx)``, for the given (default: initial) field state."""
        return (fields or self.fields).land_cover[self.field_id]


def draw_field_parameters(
    land_cover: NDArray[np.int8], rng: np.random.Generator, physics: ClassTable | None = None
) -> FieldParameters:
    """Draw per-field parameters from each field's class distribution in ``physics``
    (default ``CLASS_PHYSICS``)."""
    n = len(land_cover)
    sigma0_db = np.empty((n, 2))
    gamma_inf = np.empty(n)
    tau = np.empty(n)
    for cls, phys in (physics or CLASS_PHYSICS).items():
        idx = np.flatnonzero(land_cover == cls)
        if idx.size == 0:
            continue
        vv = rng.normal(*phys.sigma0_vv_db, size=idx.size)
        sigma0_db[idx, 0] = vv
        sigma0_db[idx, 1] = vv + rng.normal(*phys.vh_minus_vv_db, size=idx.size)
        gamma_inf[idx] = rng.beta(*phys.gamma_inf_beta, size=idx.size)
        tau[idx] = phys.tau_days[0] * np.exp(rng.normal(0.0, phys.tau_days[1], size=idx.size))
    return FieldParameters(land_cover.astype(np.int8), sigma0_db, gamma_inf, tau)


def backscatter_map(
    scene: Scene, fields: FieldParameters, polarization: str
) -> NDArray[np.float64]:
    """Noise-free backscatter (sigma0, linear power) of every pixel, ``scene.shape``.

    A field's ``sigma0_db`` is its median: the texture multiplies it by
    ``10 ** (texture_db * G / 10)`` with the scene's unit Gaussian field ``G``.
    """
    channel = POLARIZATIONS.index(polarization)
    texture_db = np.array([scene.physics[LandCover(c)].texture_db for c in range(len(LandCover))])
    pixel_db = (
        fields.sigma0_db[:, channel][scene.field_id]
        + texture_db[fields.land_cover][scene.field_id] * scene.texture
    )
    return np.asarray(db_to_linear(pixel_db))


def _voronoi_labels(
    shape: tuple[int, int], cell_px: float, rng: np.random.Generator
) -> NDArray[np.int32]:
    n_seeds = max(1, round(shape[0] * shape[1] / cell_px**2))
    seeds = rng.uniform((0, 0), shape, size=(n_seeds, 2))
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    points = np.column_stack([yy.ravel() + 0.5, xx.ravel() + 0.5])
    _, label = cKDTree(seeds).query(points, workers=-1)
    return np.asarray(label, dtype=np.int32).reshape(shape)


#: Draws the field id of every pixel: ``(shape, rng) -> (ny, nx)`` int32 labels.
FieldLayout = Callable[[tuple[int, int], np.random.Generator], NDArray[np.int32]]


def generate_scene(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    field_size_px: float = 25.0,
    landscape_size_px: float = 160.0,
    texture_correlation_px: float = 1.5,
    pixel_m: float = 10.0,
    physics: ClassTable | None = None,
    landscapes: Mapping[str, Mapping[LandCover, float]] | None = None,
    landscape_weights: Mapping[str, float] | None = None,
    field_layout: FieldLayout | None = None,
) -> Scene:
    """Generate a land-cover scene.

    Args:
        shape: ``(ny, nx)`` in GRD pixels.
        rng: random generator (the scene is a pure function of its state).
        field_size_px: typical field side, pixels (Voronoi fields).
        landscape_size_px: typical side of a landscape (town, forest, ...), pixels.
        texture_correlation_px: correlation length of the texture, pixels.
        pixel_m: pixel size in metres.
        physics: class table (default ``CLASS_PHYSICS``).
        landscapes: class odds per landscape type (default ``LANDSCAPES``).
        landscape_weights: odds of each landscape type (default ``LANDSCAPE_WEIGHTS``).
        field_layout: draws the fields (default: Voronoi parcels of ``field_size_px``).
    """
    physics = physics or CLASS_PHYSICS
    landscapes = landscapes or LANDSCAPES
    landscape_weights = landscape_weights or LANDSCAPE_WEIGHTS
    landscape = _voronoi_labels(shape, landscape_size_px, rng)
    if field_layout is None:
        field_id = _voronoi_labels(shape, field_size_px, rng)
    else:
        field_id = field_layout(shape, rng)
    n_fields = int(field_id.max()) + 1
    # A field belongs to the landscape under its first pixel in raster order.
    present, first_pixel = np.unique(field_id.ravel(), return_index=True)
    field_landscape = np.zeros(n_fields, dtype=np.int64)
    field_landscape[present] = landscape.ravel()[first_pixel]
    n_landscapes = int(landscape.max()) + 1
    names = list(landscape_weights)
    kinds = rng.choice(len(names), size=n_landscapes, p=np.array(list(landscape_weights.values())))
    field_kind = kinds[field_landscape]
    land_cover = np.zeros(n_fields, dtype=np.int8)
    for k, name in enumerate(names):
        idx = np.flatnonzero(field_kind == k)
        probs = landscapes[name]
        land_cover[idx] = rng.choice(list(probs), size=idx.size, p=np.array(list(probs.values())))
    # Fields with no pixel (possible for Voronoi seeds) are harmless: never indexed.
    fields = draw_field_parameters(land_cover, rng, physics)
    noise = rng.standard_normal(shape)
    smooth = ndimage.gaussian_filter(noise, texture_correlation_px, mode="wrap")
    texture = (smooth / smooth.std()).astype(np.float32)
    return Scene(field_id, fields, texture, pixel_m, physics)


def homogeneous_scene(
    shape: tuple[int, int],
    *,
    sigma0_db: tuple[float, float] = (-10.0, -16.0),
    gamma_inf: float = 0.5,
    tau_days: float = 20.0,
    land_cover: LandCover = LandCover.BARE_SOIL,
    pixel_m: float = 10.0,
) -> Scene:
    """A single field with fixed parameters and no texture (for calibration and tests).

    Args:
        shape: ``(ny, nx)`` GRD pixels.
        sigma0_db: (VV, VH) backscatter, dB.
        gamma_inf: long-term coherence; 1 makes the scatterers perfectly stable.
        tau_days: decorrelation time, days.
        land_cover: class (sets the per-acquisition jitter and the change odds).
        pixel_m: pixel size, metres.
    """
    fields = FieldParameters(
        land_cover=np.array([land_cover], dtype=np.int8),
        sigma0_db=np.array([sigma0_db], dtype=np.float64),
        gamma_inf=np.array([gamma_inf], dtype=np.float64),
        tau_days=np.array([tau_days], dtype=np.float64),
    )
    return Scene(
        field_id=np.zeros(shape, dtype=np.int32),
        fields=fields,
        texture=np.zeros(shape, dtype=np.float32),
        pixel_m=pixel_m,
    )
