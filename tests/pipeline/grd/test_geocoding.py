"""Geocoding the shared real GRD scene by its 210 GCPs: held-out residuals in metres."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from conftest import SHARED
from rasterio.warp import transform as transform_coords
from scipy.interpolate import RBFInterpolator

from cohcube.pipeline.grd.geocoding import GcpGeocoder, GeocodingError
from cohcube.pipeline.grd.product_xml import GroundControlPoint

SCENE = SHARED / "grd" / "S1A_IW_GRDH_1SDV_20180716T004042_20180716T004107_022812_02792A_FD5B"
UTM_43N = 32643


def scene_gcps() -> list[GroundControlPoint]:
    if not SCENE.is_dir():
        pytest.skip("../shared/data is absent")
    with rasterio.open(SCENE / "iw-vv.tiff") as dataset:
        gcps, _ = dataset.gcps
    return [GroundControlPoint(g.row, g.col, g.x, g.y, g.z) for g in gcps]


def held_out_residuals_m(gcps: list[GroundControlPoint], use_height: bool) -> np.ndarray:
    """Ground distance between each GCP and where the spline fitted on the others puts it."""
    xs, ys = transform_coords(
        "EPSG:4326", f"EPSG:{UTM_43N}", [g.lon for g in gcps], [g.lat for g in gcps]
    )
    truth = np.column_stack([xs, ys])
    radar = np.array([[g.line, g.pixel, g.height_m] for g in gcps])
    # Radar -> ground through every GCP: converts a radar-coordinate error into metres.
    to_ground = RBFInterpolator(radar, truth, kernel="thin_plate_spline")
    residuals = []
    for i, gcp in enumerate(gcps):
        rest = gcps[:i] + gcps[i + 1 :]
        if not use_height:
            rest = [GroundControlPoint(g.line, g.pixel, g.lon, g.lat, 0.0) for g in rest]
        geocoder = GcpGeocoder.fit(rest, UTM_43N)
        height = np.array([gcp.height_m]) if use_height else None
        line, pixel = geocoder.radar_coordinates(truth[i : i + 1, 0], truth[i : i + 1, 1], height)
        ground = to_ground(np.array([[line[0], pixel[0], gcp.height_m]]))[0]
        residuals.append(np.hypot(*(ground - truth[i])))
    return np.array(residuals)


def test_held_out_gcps_within_15_m_rms_and_40_m_max() -> None:
    residuals = held_out_residuals_m(scene_gcps(), use_height=True)
    assert np.sqrt(np.mean(residuals**2)) <= 15.0
    assert residuals.max() <= 40.0


def test_a_flat_spline_bends_between_gcp_rows_of_different_height() -> None:
    # Without the height term the same spline misses GCPs on rows that sit higher or lower
    # than their neighbours (this scene's rows span 255-755 m): why the height is an input.
    flat = held_out_residuals_m(scene_gcps(), use_height=False)
    with_height = held_out_residuals_m(scene_gcps(), use_height=True)
    assert flat.max() > 1.5 * with_height.max()


def test_radar_grid_agrees_with_pointwise_spline() -> None:
    geocoder = GcpGeocoder.fit(scene_gcps(), UTM_43N)
    transform = Affine(10, 0, 700_000, 0, -10, 1_150_000)
    line, pixel = geocoder.radar_grid(transform, (200, 300))
    rows, cols = np.meshgrid(np.arange(200) + 0.5, np.arange(300) + 0.5, indexing="ij")
    x, y = transform @ (cols, rows)
    exact = geocoder.radar_coordinates(np.asarray(x), np.asarray(y))
    # The lattice refinement is far below a GRD pixel (this scene's pixels are ~200 m).
    assert np.abs(line - exact[0]).max() < 0.01
    assert np.abs(pixel - exact[1]).max() < 0.01


def test_too_few_gcps_are_refused() -> None:
    with pytest.raises(GeocodingError, match="3 ground control points"):
        GcpGeocoder.fit([GroundControlPoint(0, i, 10 + i, 45, 0) for i in range(3)], 32633)
