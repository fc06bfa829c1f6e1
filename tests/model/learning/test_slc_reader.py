"""Reading coregistered complex raster pairs written as GeoTIFF and VRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.shutil import copy as copy_raster

from cohcube.model import SensorGeometry, SlcGrid, homogeneous_scene, sample_coherence
from cohcube.model.errors import SlcPairError
from cohcube.model.learning.slc_reader import grid_from_bounds, read_slc_pair
from cohcube.model.physics.detection import coherence_target, detect
from cohcube.model.physics.simulator import simulate_series
from cohcube.model.physics.speckle import correlated_pair

UTM = CRS.from_epsg(32633)
ORIGIN = (500_000.0, 5_000_000.0)


def _write(
    path: Path,
    data: np.ndarray,
    transform: Affine | None = None,
    crs: CRS | None = None,
    dtype: str = "complex64",
) -> Path:
    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": dtype,
    }
    if transform is not None:
        profile.update(transform=transform, crs=crs)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_radar_geometry_pair_matches_sample_coherence(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    z1, z2 = correlated_pair(0.6, 120 * 160, rng)
    s1, s2 = z1.reshape(120, 160), z2.reshape(120, 160)
    s1[:10, :16] = 0  # no-data corner, as SLC exports write it
    a = _write(tmp_path / "ref.tif", s1)
    b = _write(tmp_path / "sec.tif", s2)
    pair = read_slc_pair(a, b, looks=(1, 4), window=5)
    assert pair.crs is None
    assert pair.reference.shape == (120, 40)
    assert np.isnan(pair.coherence[:10, :4]).all()
    ml = s1.reshape(120, 40, 4)
    np.testing.assert_allclose(pair.reference[20:], (np.abs(ml) ** 2).mean(axis=2)[20:], rtol=1e-5)
    # 4 looks x a 5 x 5 window = 100 looks: close to gamma, as sample_coherence says.
    direct = sample_coherence(s1[20:], s2[20:], (5, 20))[:, 2::4][:, :40]
    np.testing.assert_allclose(pair.coherence[20:][5:-5, 3:-3], direct[5:-5, 3:-3], atol=1e-4)
    assert np.nanmean(pair.coherence[20:]) == pytest.approx(0.6, abs=0.03)


def test_georeferenced_pair_on_a_map_grid_matches_the_simulator(tmp_path: Path) -> None:
    geometry = SensorGeometry()
    scene = homogeneous_scene((96, 96), sigma0_db=(0.0, -6.0), gamma_inf=0.5, tau_days=1e6)
    rng = np.random.default_rng(8)
    first, second = simulate_series(scene, (0.0, 12.0), rng, keep_slc=True)
    assert first.slc is not None
    assert second.slc is not None
    grid = SlcGrid.covering(geometry, scene.shape, max_offset_px=0.5)
    dy, dx = geometry.slc_spacing_m
    transform = Affine(dx, 0, ORIGIN[0] + grid.origin_m[1], 0, -dy, ORIGIN[1] - grid.origin_m[0])
    a = _write(tmp_path / "ref.tif", first.slc["VV"], transform, UTM)
    b = _write(tmp_path / "sec.tif", second.slc["VV"], transform, UTM)
    # A VRT in front of the GeoTIFF, as ISCE2 writes its products.
    with rasterio.open(b) as src:
        vrt = tmp_path / "sec.vrt"
        copy_raster(src, vrt, driver="VRT")
    target = grid_from_bounds(UTM, (ORIGIN[0], ORIGIN[1] - 960, ORIGIN[0] + 960, ORIGIN[1]), 10.0)
    pair = read_slc_pair(a, vrt, looks=(1, 1), window=5, grid=target)
    assert pair.crs == UTM
    assert pair.reference.shape == (96, 96)
    inner = (slice(5, -5), slice(5, -5))
    # Same physics as the simulator's own detection and target, up to resampling kernels.
    simulated = detect(first.slc["VV"], grid)
    assert pair.reference[inner].mean() == pytest.approx(simulated[inner].mean(), rel=0.03)
    assert np.corrcoef(pair.reference[inner].ravel(), simulated[inner].ravel())[0, 1] > 0.6
    expected = coherence_target(first.slc["VV"], second.slc["VV"], grid)
    assert np.nanmean(pair.coherence[inner]) == pytest.approx(expected[inner].mean(), abs=0.02)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_bad_pairs_are_refused_with_the_file_named(tmp_path: Path) -> None:
    s = np.ones((20, 24), dtype=np.complex64)
    a = _write(tmp_path / "a.tif", s)
    small = _write(tmp_path / "small.tif", s[:10])
    detected = _write(tmp_path / "grd.tif", np.ones((20, 24), dtype=np.float32), dtype="float32")
    with pytest.raises(SlcPairError, match="differ in size"):
        read_slc_pair(a, small)
    with pytest.raises(SlcPairError, match=r"grd\.tif.*not complex"):
        read_slc_pair(a, detected)
    with pytest.raises(SlcPairError, match="cannot open"):
        read_slc_pair(a, tmp_path / "missing.tif")
    with pytest.raises(SlcPairError, match="no CRS"):
        read_slc_pair(a, a, grid=grid_from_bounds(UTM, (0, 0, 100, 100), 10.0))
