"""Geocoding the shared real GRD scene by its 210 GCPs: held-out residuals in metres."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform as transform_coords
from scipy.interpolate import RBFInterpolator
from support.real_grd import SHARED, RealProduct, product_params

from cohcube.pipeline.grd.geocoding import GcpGeocoder, GeocodingError
from cohcube.pipeline.grd.product_xml import GroundControlPoint, parse_annotation

SCENE = SHARED / "grd" / "S1A_IW_GRDH_1SDV_20180716T004042_20180716T004107_022812_02792A_FD5B"
UTM_43N = 32643


def scene_gcps() -> list[GroundControlPoint]:
    if not SCENE.is_dir():
        pytest.skip("../shared/data is absent")
    with rasterio.open(SCENE / "iw-vv.tiff") as dataset:
        gcps, _ = dataset.gcps
    return [GroundControlPoint(g.row, g.col, g.x, g.y, g.z) for g in gcps]


def held_out_residuals_m(
    gcps: list[GroundControlPoint], epsg: int, use_height: bool = True
) -> np.ndarray:
    """Ground distance between each GCP and where the splines fitted on the others put it."""
    lons, lats = [g.lon for g in gcps], [g.lat for g in gcps]
    xs, ys = transform_coords("EPSG:4326", f"EPSG:{epsg}", lons, lats)
    truth = np.column_stack([xs, ys])
    radar = np.array([[g.line, g.pixel] for g in gcps])
    # Radar -> ground through every GCP: turns a radar-coordinate error into metres.
    to_ground = RBFInterpolator(radar, truth, kernel="thin_plate_spline")
    if not use_height:
        gcps = [replace(g, height_m=0.0) for g in gcps]
    residuals = []
    for i, gcp in enumerate(gcps):
        geocoder = GcpGeocoder.fit(gcps[:i] + gcps[i + 1 :], epsg)
        point = truth[i : i + 1]
        line, pixel = geocoder.radar_coordinates(point[:, 0], point[:, 1], np.array([gcp.height_m]))
        ground = to_ground(np.array([[line[0], pixel[0]]]))[0]
        residuals.append(np.hypot(*(ground - truth[i])))
    return np.array(residuals)


def test_held_out_gcps_within_15_m_rms_and_40_m_max() -> None:
    # The GeoTIFF's GCPs carry no incidence angle: the nominal IW range of angles is used.
    residuals = held_out_residuals_m(scene_gcps(), UTM_43N)
    assert np.sqrt(np.mean(residuals**2)) <= 15.0
    assert residuals.max() <= 40.0


def test_ignoring_the_reference_heights_bends_the_fit() -> None:
    # GCP rows sit at the processor's reference heights (255-755 m in this scene); a spline
    # that ignores them misses rows higher or lower than their neighbours.
    flat = held_out_residuals_m(scene_gcps(), UTM_43N, use_height=False)
    assert flat.max() > 1.5 * held_out_residuals_m(scene_gcps(), UTM_43N).max()


@pytest.mark.parametrize("product", product_params())
def test_annotation_gcps_with_incidence_and_relief(product: RealProduct) -> None:
    gcps = list(parse_annotation(product.annotation.read_bytes()).gcps)
    assert all(g.incidence_deg is not None and 15 < g.incidence_deg < 50 for g in gcps)
    lon, lat = np.mean([g.lon for g in gcps]), np.mean([g.lat for g in gcps])
    epsg = (32600 if lat > 0 else 32700) + int((lon + 180) // 6) + 1
    residuals = held_out_residuals_m(gcps, epsg)
    assert np.sqrt(np.mean(residuals**2)) <= 10.0
    relief = np.ptp([g.height_m for g in gcps])
    if relief > 1000:  # 1.3-1.9 km of relief: foreshortening moves points by hundreds of metres
        flat = held_out_residuals_m(gcps, epsg, use_height=False)
        assert np.sqrt(np.mean(flat**2)) > 10 * np.sqrt(np.mean(residuals**2))


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
