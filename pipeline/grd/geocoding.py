"""Radar coordinates of map points from a GRD product's ground control points.

A GRD image is in radar geometry: line = azimuth time, pixel = ground range,
projected by the processor onto the ellipsoid raised to a reference terrain
height that varies along azimuth (constant along range). Its geolocation grid
(about 10 x 21 points, in the annotation and as the GeoTIFF's GCPs) gives
each point's WGS84 position at that height.

A point ``h`` metres above another with the same slant range lies closer to
the sensor on the ground by ``h * cot(incidence)`` (foreshortening). So the
GCPs are first moved down to the ellipsoid along the ground-range direction
(``P0 = P - h cot(theta) u``); there the tie (map -> line, pixel) is smooth, and
a thin-plate spline through the moved points (scipy's ``RBFInterpolator``,
fitted in the output CRS) follows it to a fraction of a GRD pixel between
points (one polynomial over a whole scene misses by ~100 m). A map point at
height ``h`` -- the processor's reference height by default (ellipsoid
geocoding), a DEM's height when one is given (terrain geocoding) -- is moved
the same way before the spline is evaluated.

The splines are evaluated on a coarse lattice of the output chunk (every
``LATTICE_PX`` pixels) and bilinearly refined; a DEM's heights enter per pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.warp import transform as transform_coords
from scipy.interpolate import RBFInterpolator, RegularGridInterpolator

from cohcube.model.errors import InputDataError

from .product_xml import GroundControlPoint

#: Spacing of the lattice the splines are evaluated on, output pixels.
LATTICE_PX = 16
#: Map coordinates are centred and scaled to this many metres for a well-conditioned fit.
_SCALE_M = 10_000.0
#: Incidence across an IW swath (near, far), degrees: used only for GCPs that give none.
NOMINAL_IW_INCIDENCE_DEG = (30.9, 45.9)


class GeocodingError(InputDataError):
    """A scene whose ground control points cannot place it on the grid."""


def _incidence(gcps: Sequence[GroundControlPoint]) -> np.ndarray:
    given = np.array([np.nan if g.incidence_deg is None else g.incidence_deg for g in gcps])
    if np.isfinite(given).all():
        return given
    pixels = np.array([g.pixel for g in gcps])
    near, far = NOMINAL_IW_INCIDENCE_DEG
    return near + (far - near) * (pixels - pixels.min()) / max(np.ptp(pixels), 1.0)


@dataclass(frozen=True)
class GcpGeocoder:
    """Map coordinates in ``epsg`` (and height) -> radar (line, pixel) of one scene.

    Build with ``GcpGeocoder.fit``; call ``radar_coordinates`` or ``radar_grid``.
    """

    epsg: int
    origin: tuple[float, float]
    ground_range: tuple[float, float]
    spline: RBFInterpolator
    cot_incidence: RBFInterpolator
    reference_height: RBFInterpolator

    @classmethod
    def fit(cls, gcps: Sequence[GroundControlPoint], epsg: int) -> GcpGeocoder:
        """Splines through ``gcps`` (at least 10), in the CRS ``EPSG:epsg``."""
        if len(gcps) < 10:
            raise GeocodingError(
                f"the scene has {len(gcps)} ground control points; at least 10 are needed to "
                "geocode it (is this a GRD product with its geolocation grid?)"
            )
        xs, ys = transform_coords(
            "EPSG:4326", f"EPSG:{epsg}", [g.lon for g in gcps], [g.lat for g in gcps]
        )
        xy = np.column_stack([xs, ys])
        radar = np.array([[g.line, g.pixel] for g in gcps], dtype=np.float64)
        heights = np.array([g.height_m for g in gcps], dtype=np.float64)
        # Ground-range direction: d(x, y)/d(pixel) of an affine fit, as a unit vector.
        design = np.column_stack([np.ones(len(gcps)), radar])
        coefficients = np.linalg.lstsq(design, xy, rcond=None)[0]
        direction = coefficients[2] / np.linalg.norm(coefficients[2])
        cot = 1.0 / np.tan(np.radians(_incidence(gcps)))
        ellipsoid = xy - (heights * cot)[:, None] * direction
        origin = (float(ellipsoid[:, 0].mean()), float(ellipsoid[:, 1].mean()))
        scaled = (ellipsoid - origin) / _SCALE_M

        def spline(values: np.ndarray) -> RBFInterpolator:
            return RBFInterpolator(scaled, values, kernel="thin_plate_spline", degree=1)

        return cls(
            epsg,
            origin,
            (float(direction[0]), float(direction[1])),
            spline(radar),
            spline(cot),
            spline(heights),
        )

    def _scaled(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        points = np.column_stack([np.ravel(x) - self.origin[0], np.ravel(y) - self.origin[1]])
        return points / _SCALE_M

    def _on_ellipsoid(
        self, x: np.ndarray, y: np.ndarray, height: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map points moved down to the ellipsoid along ground range (flat arrays)."""
        near = self._scaled(x, y)
        h = self.reference_height(near) if height is None else np.ravel(height).astype(float)
        shift = h * self.cot_incidence(near)
        return np.ravel(x) - shift * self.ground_range[0], np.ravel(y) - shift * self.ground_range[
            1
        ]

    def gcp_height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The processor's reference height at map points, metres above the ellipsoid."""
        return np.asarray(self.reference_height(self._scaled(x, y))).reshape(np.shape(x))

    def radar_coordinates(
        self, x: np.ndarray, y: np.ndarray, height: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(line, pixel) of map points ``(x, y)`` at ``height`` (m above the ellipsoid;
        default: the processor's reference height, i.e. ellipsoid geocoding)."""
        x0, y0 = self._on_ellipsoid(np.asarray(x), np.asarray(y), height)
        radar = self.spline(self._scaled(x0, y0))
        shape = np.shape(x)
        return radar[:, 0].reshape(shape), radar[:, 1].reshape(shape)

    def radar_grid(
        self, transform: Affine, shape: tuple[int, int], height: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(line, pixel) of every pixel centre of a map window, two ``shape`` float64 arrays.

        Args:
            transform: affine transform of the window (north-up).
            shape: ``(rows, cols)`` of the window.
            height: optional ``shape`` heights above the ellipsoid (a DEM on the
                window), metres; default the processor's reference height.
        """
        rows, cols = shape
        lattice_r = np.unique(np.append(np.arange(0, rows, LATTICE_PX), rows - 1)).astype(float)
        lattice_c = np.unique(np.append(np.arange(0, cols, LATTICE_PX), cols - 1)).astype(float)
        cc, rr = np.meshgrid(lattice_c + 0.5, lattice_r + 0.5)
        x = transform.c + transform.a * cc + transform.b * rr
        y = transform.f + transform.d * cc + transform.e * rr
        line, pixel = self.radar_coordinates(x, y)
        fine = [_refined(c, lattice_r, lattice_c, shape) for c in (line, pixel)]
        if height is None:
            return fine[0], fine[1]
        # A DEM moves each pixel along ground range by (h - h_ref) cot(theta): the local
        # derivative of (line, pixel) along that direction, from the lattice.
        near = self._scaled(x, y)
        reference = self.reference_height(near).reshape(x.shape)
        cot = self.cot_incidence(near).reshape(x.shape)
        step = 10.0
        moved = self.radar_coordinates(
            x - step * self.ground_range[0], y - step * self.ground_range[1]
        )
        per_metre = [(m - c) / step for m, c in zip(moved, (line, pixel), strict=True)]
        refine = [_refined(c, lattice_r, lattice_c, shape) for c in (reference, cot, *per_metre)]
        # Where the DEM has no height (NaN), the reference height stands: no shift.
        shift = np.nan_to_num((np.asarray(height, dtype=np.float64) - refine[0]) * refine[1])
        return fine[0] + shift * refine[2], fine[1] + shift * refine[3]


def _refined(
    coarse: np.ndarray, lattice_r: np.ndarray, lattice_c: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Bilinear refinement of lattice values onto every pixel of ``shape``."""
    if len(lattice_r) < 2 or len(lattice_c) < 2:
        return np.broadcast_to(coarse.mean(), shape).copy()
    fine_r, fine_c = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    points = np.stack([fine_r.ravel(), fine_c.ravel()], axis=1).astype(float)
    return RegularGridInterpolator((lattice_r, lattice_c), coarse)(points).reshape(shape)
