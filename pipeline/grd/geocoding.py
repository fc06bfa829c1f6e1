"""Radar coordinates of map points from a GRD product's ground control points.

A GRD image is in radar geometry (line = azimuth time, pixel = ground range
on the ellipsoid); its geolocation grid (about 10 x 21 points, in the
annotation and as the GeoTIFF's GCPs) ties lines and pixels to WGS84. One
polynomial over a whole scene misses the curvature of that tie by ~100 m; a
thin-plate spline through the points (scipy's ``RBFInterpolator``), fitted in
the output CRS, follows it to a fraction of a GRD pixel between points.

The spline is evaluated on a coarse lattice of the output chunk (every
``LATTICE_PX`` pixels) and bilinearly refined: the mapping is smooth over
hundreds of metres, so the refinement costs nothing measurable in accuracy
and keeps the per-chunk cost at ~1000 spline evaluations.

Heights are those of the GCPs (ellipsoid geocoding): terrain displacement
between GCPs is not corrected on this path.
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

#: Spacing of the lattice the spline is evaluated on, output pixels.
LATTICE_PX = 16
#: Map coordinates are centred and scaled to this many metres for a well-conditioned fit.
_SCALE_M = 10_000.0


class GeocodingError(InputDataError):
    """A scene whose ground control points cannot place it on the grid."""


@dataclass(frozen=True)
class GcpGeocoder:
    """Map coordinates in ``epsg`` (and height) -> radar (line, pixel) of one scene.

    The spline's inputs are the map position and the GCP's height above the
    ellipsoid: a point's ground-range position moves with its height (by
    ``h / tan(incidence)``), and GCP rows of one scene sit at different heights,
    so a 2-D spline would bend between them. Where no height is given (the
    ellipsoid path) the GCPs' own heights, interpolated over the map, are used.
    Build with ``GcpGeocoder.fit``.
    """

    epsg: int
    origin: tuple[float, float]
    spline: RBFInterpolator
    height_spline: RBFInterpolator | None

    @classmethod
    def fit(cls, gcps: Sequence[GroundControlPoint], epsg: int) -> GcpGeocoder:
        """Thin-plate splines through ``gcps`` (at least 10), in the CRS ``EPSG:epsg``."""
        if len(gcps) < 10:
            raise GeocodingError(
                f"the scene has {len(gcps)} ground control points; at least 10 are needed to "
                "geocode it (is this a GRD product with its geolocation grid?)"
            )
        xs, ys = transform_coords(
            "EPSG:4326", f"EPSG:{epsg}", [g.lon for g in gcps], [g.lat for g in gcps]
        )
        xy = np.column_stack([xs, ys])
        origin = (float(xy[:, 0].mean()), float(xy[:, 1].mean()))
        scaled = (xy - origin) / _SCALE_M
        heights = np.array([g.height_m for g in gcps], dtype=np.float64)
        radar = np.array([[g.line, g.pixel] for g in gcps], dtype=np.float64)
        if np.ptp(heights) < _FLAT_M:  # all at one height: a height term would be singular
            spline = RBFInterpolator(scaled, radar, kernel="thin_plate_spline", degree=1)
            return cls(epsg, origin, spline, None)
        inputs = np.column_stack([scaled, heights / _SCALE_M])
        spline = RBFInterpolator(inputs, radar, kernel="thin_plate_spline", degree=1)
        height_spline = RBFInterpolator(scaled, heights, kernel="thin_plate_spline", degree=1)
        return cls(epsg, origin, spline, height_spline)

    def gcp_height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The GCPs' heights interpolated at map points, metres (0 where the GCPs are flat)."""
        if self.height_spline is None:
            return np.zeros(np.shape(x))
        points = np.column_stack([np.ravel(x) - self.origin[0], np.ravel(y) - self.origin[1]])
        return np.asarray(self.height_spline(points / _SCALE_M)).reshape(np.shape(x))

    def radar_coordinates(
        self, x: np.ndarray, y: np.ndarray, height: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(line, pixel) of map points ``(x, y)`` (CRS units) at ``height`` (m; default: GCPs')."""
        shape = np.shape(x)
        points = np.column_stack([np.ravel(x) - self.origin[0], np.ravel(y) - self.origin[1]])
        points = points / _SCALE_M
        if self.height_spline is not None:
            h = self.gcp_height(x, y) if height is None else np.asarray(height, dtype=np.float64)
            points = np.column_stack([points, np.ravel(h) / _SCALE_M])
        radar = self.spline(points)
        return radar[:, 0].reshape(shape), radar[:, 1].reshape(shape)

    def radar_grid(
        self, transform: Affine, shape: tuple[int, int], height: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(line, pixel) of every pixel centre of a map window, two ``shape`` float64 arrays.

        The splines are evaluated on a lattice every ``LATTICE_PX`` pixels and
        refined bilinearly; a per-pixel ``height`` (e.g. a DEM warped to the
        window, metres above the ellipsoid) enters through the local
        derivative of (line, pixel) with height, evaluated on the same lattice.

        Args:
            transform: affine transform of the window (north-up).
            shape: ``(rows, cols)`` of the window.
            height: optional ``shape`` heights; default the GCPs' heights.
        """
        rows, cols = shape
        lattice_r = np.unique(np.append(np.arange(0, rows, LATTICE_PX), rows - 1)).astype(float)
        lattice_c = np.unique(np.append(np.arange(0, cols, LATTICE_PX), cols - 1)).astype(float)
        cc, rr = np.meshgrid(lattice_c + 0.5, lattice_r + 0.5)
        x = transform.c + transform.a * cc + transform.b * rr
        y = transform.f + transform.d * cc + transform.e * rr
        base_h = self.gcp_height(x, y)
        coarse = [*self.radar_coordinates(x, y, base_h)]
        if height is not None and self.height_spline is not None:
            raised = self.radar_coordinates(x, y, base_h + _HEIGHT_STEP_M)
            coarse += [(r - b) / _HEIGHT_STEP_M for r, b in zip(raised, coarse, strict=True)]
            coarse.append(base_h)
        fine = [_refined(c, lattice_r, lattice_c, shape) for c in coarse]
        if len(fine) == 2:
            return fine[0], fine[1]
        assert height is not None
        dh = np.asarray(height, dtype=np.float64) - fine[4]
        return fine[0] + fine[2] * dh, fine[1] + fine[3] * dh


#: GCP height spread below which a scene is treated as flat (no height term).
_FLAT_M = 1.0
#: Height step of the numerical derivative of (line, pixel) with height.
_HEIGHT_STEP_M = 100.0


def _refined(
    coarse: np.ndarray, lattice_r: np.ndarray, lattice_c: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Bilinear refinement of lattice values onto every pixel of ``shape``."""
    if len(lattice_r) < 2 or len(lattice_c) < 2:
        return np.broadcast_to(coarse.mean(), shape).copy()
    fine_r, fine_c = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    points = np.stack([fine_r.ravel(), fine_c.ravel()], axis=1).astype(float)
    return RegularGridInterpolator((lattice_r, lattice_c), coarse)(points).reshape(shape)
