"""Real-layout SLC products (OPERA CSLC-S1 HDF5, complex GeoTIFF/VRT, ISCE2 radar geometry)
from the simulator's SLC stacks -> detected inputs and coherence targets, and bad input."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
from rasterio.shutil import copy as copy_raster
from support.slc_stacks import (
    SimulatedStack,
    simulated_stack,
    write_complex_geotiff,
    write_lookup,
    write_opera_cslc,
)

from cohcube.model import equivalent_number_of_looks, homogeneous_scene
from cohcube.model.errors import SlcPairError
from cohcube.model.learning.data_sources import OperaCslcSource, PairFiles, SlcPairsSource
from cohcube.model.learning.opera_cslc import OperaCslcFile
from cohcube.model.learning.slc_extraction import (
    PIXEL_M,
    detected_strips,
    geometry_for,
    output_layout,
)
from cohcube.model.learning.slc_files import SlcFile
from cohcube.model.learning.slc_patches import plan_pairs, source_patches
from cohcube.model.learning.slc_reader import GdalSlcFile
from cohcube.model.physics.detection import coherence_target

SCENE_PX = 128


@pytest.fixture(scope="module")
def stack() -> SimulatedStack:
    """A textured simulated scene, three dates, VV + VH."""
    return simulated_stack((SCENE_PX, SCENE_PX), [0.0, 12.0, 24.0], 41, polarizations=("VV", "VH"))


def _images(reference: SlcFile, secondary: SlcFile) -> tuple[np.ndarray, np.ndarray, tuple]:
    geometry = geometry_for(reference.grid, (20.0, 9.2), (50.0, 50.0))
    layout = output_layout(reference.grid, geometry, 0.0)
    strips = list(detected_strips(reference, secondary, ("VV",), geometry, layout, (0, 0), 48))
    db = np.concatenate([s.backscatter_db for s in strips], axis=1)
    target = np.concatenate([s.target for s in strips], axis=0)
    return db, target, (layout, geometry)


def _on_scene(image: np.ndarray, stack: SimulatedStack, layout) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The part of an output image over the simulated scene's own GRD grid."""
    row = round((layout.transform.f - stack.corner_xy[1]) / PIXEL_M)
    col = round((stack.corner_xy[0] - layout.transform.c) / PIXEL_M)
    return image[..., row : row + SCENE_PX, col : col + SCENE_PX]


def test_opera_cslc_target_is_the_simulators_slc_coherence(
    tmp_path: Path, stack: SimulatedStack
) -> None:
    a, b = write_opera_cslc(tmp_path, stack, 0), write_opera_cslc(tmp_path, stack, 1)
    reference, secondary = OperaCslcFile(a), OperaCslcFile(b)
    assert reference.unit == "t078_165495_iw3"
    assert (secondary.date - reference.date).days == 12
    assert reference.grid.spacing_m == pytest.approx((14.0, 2.3))
    _, target, (layout, _) = _images(reference, secondary)
    # The output grid is snapped to 10 m in UTM and covers the whole scene.
    assert layout.transform.c % 10 == 0
    assert layout.transform.f % 10 == 0
    slc = [acq.slc for acq in stack.acquisitions]
    assert slc[0] is not None
    assert slc[1] is not None
    expected = coherence_target(slc[0]["VV"], slc[1]["VV"], stack.grid)
    got = _on_scene(target, stack, layout)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) < 0.01
    reference.close()
    secondary.close()


def test_detected_inputs_have_the_grd_looks(tmp_path: Path) -> None:
    scene = homogeneous_scene((160, 160), sigma0_db=(-8.0, -14.0), gamma_inf=0.6, tau_days=1e6)
    flat = simulated_stack((160, 160), [0.0, 12.0], 3, scene=scene)
    for name, writer in (
        ("opera", lambda i: write_opera_cslc(tmp_path, flat, i)),
        (
            "geotiff",
            lambda i: write_complex_geotiff(tmp_path / f"{20240301 + 12 * i}.tif", flat, i),
        ),
    ):
        a, b = writer(0), writer(1)
        if name == "opera":
            reference, secondary = OperaCslcFile(a), OperaCslcFile(b)
        else:
            reference = GdalSlcFile(a, ("VV",), "stack")
            secondary = GdalSlcFile(b, ("VV",), "stack")
        db, _, _ = _images(reference, secondary)
        for image in db[:2]:
            enl = equivalent_number_of_looks(10 ** (image / 10))
            assert enl == pytest.approx(4.4, abs=0.3), name


def test_geotiff_vrt_and_radar_geometry_give_the_same_patches(
    tmp_path: Path, stack: SimulatedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    tif = [
        write_complex_geotiff(tmp_path / f"map/{d}/{d}.slc.tif", stack, i)
        for i, d in enumerate(("20240301", "20240313"))
    ]
    vrt = tmp_path / "map" / "20240313" / "20240313.slc.full.vrt"
    with rasterio.open(tif[1]) as src:
        copy_raster(src, vrt, driver="VRT")
    mapped = SlcPairsSource(
        pairs=[PairFiles(reference=str(tif[0]), secondary=str(vrt))],
        max_misregistration_px=0.0,
    )
    radar_files = [
        write_complex_geotiff(tmp_path / f"rdr/{d}/{d}.slc", stack, i, georeferenced=False)
        for i, d in enumerate(("20240301", "20240313"))
    ]
    lat, lon = write_lookup(tmp_path, stack)
    radar = SlcPairsSource(
        files=[str(tmp_path / "rdr/*/*.slc")],
        lat=str(lat),
        lon=str(lon),
        max_misregistration_px=0.0,
    )
    assert [p.baseline_days for p in plan_pairs(radar)] == [12.0]
    assert radar_files
    on_map = source_patches(mapped, 32, 0, tmp_path / "cache", progress=False)
    in_radar = source_patches(radar, 32, 0, tmp_path / "cache", progress=False)
    assert len(on_map.units) > 10
    # Radar geometry: spacing from the lookups (to 1 %), grid not snapped, so compare statistics.
    assert len(in_radar.units) == pytest.approx(len(on_map.units), rel=0.2)
    assert np.nanmean(in_radar.patches.target) == pytest.approx(
        np.nanmean(on_map.patches.target), abs=0.02
    )
    assert in_radar.centre_crs[0] == "lonlat"

    # A second read comes from the Zarr cache: no SLC pixel is read again.
    def no_pixels(*_: object) -> None:
        raise AssertionError("SLC pixels read again")

    monkeypatch.setattr(GdalSlcFile, "read_rows", no_pixels)
    again = source_patches(mapped, 32, 0, tmp_path / "cache", progress=False)
    assert np.array_equal(again.patches.target, on_map.patches.target, equal_nan=True)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_bad_inputs_name_the_file(tmp_path: Path, stack: SimulatedStack) -> None:
    a = write_opera_cslc(tmp_path, stack, 0, "t078_165495_iw3")
    other = tmp_path / "other"
    other.mkdir()
    b = write_opera_cslc(other, stack, 1, "t078_165496_iw3")
    two_bursts = OperaCslcSource(pairs=[PairFiles(reference=str(a), secondary=str(b))])
    with pytest.raises(SlcPairError, match=r"burst t078_165496_iw3.*cannot pair"):
        plan_pairs(two_bursts)
    c = write_opera_cslc(other, stack, 2, "t078_165495_iw3")
    backwards = OperaCslcSource(pairs=[PairFiles(reference=str(c), secondary=str(a))])
    with pytest.raises(SlcPairError, match=r"dates out of order.*not later"):
        plan_pairs(backwards)
    (tmp_path / "shifted").mkdir()
    shifted = write_opera_cslc(tmp_path / "shifted", stack, 2, "t078_165495_iw3")
    with h5py.File(shifted, "a") as f:
        x = f["/data/x_coordinates"]
        x[...] = x[()] + 100.0
    with pytest.raises(SlcPairError, match="not on the grid"):
        plan_pairs(OperaCslcSource(pairs=[PairFiles(reference=str(a), secondary=str(shifted))]))
    shifted.unlink()

    detected = tmp_path / "20240301.tif"
    with rasterio.open(
        detected, "w", driver="GTiff", height=8, width=8, count=1, dtype="float32"
    ) as dst:
        dst.write(np.ones((8, 8), np.float32), 1)
    with pytest.raises(SlcPairError, match=r"20240301\.tif band 1 is float32, not complex"):
        GdalSlcFile(detected, ("VV",), "stack")
    radar = write_complex_geotiff(tmp_path / "20240301.slc", stack, 0, georeferenced=False)
    with pytest.raises(SlcPairError, match=r"20240301\.slc has no map grid.*lat and lon"):
        GdalSlcFile(radar, ("VV",), "stack")
    missing = (tmp_path / "geom/lat.rdr", tmp_path / "geom/lon.rdr")
    with pytest.raises(SlcPairError, match=r"lookup raster .*geom/lat\.rdr .*does not exist"):
        GdalSlcFile(radar, ("VV",), "stack", lookup=missing)
    with pytest.raises(SlcPairError, match=r"cannot tell the date of .*undated\.tif"):
        GdalSlcFile(tmp_path / "undated.tif", ("VV",), "stack")
    with pytest.raises(SlcPairError, match=r"20240313_gone\.tif \(VV\) does not exist"):
        GdalSlcFile(tmp_path / "20240313_gone.tif", ("VV",), "stack")
    with h5py.File(tmp_path / "broken.h5", "w") as f:
        f.create_dataset("/data/VV", data=np.ones((4, 4), np.float32))
        f.create_dataset("/identification/burst_id", data=np.bytes_("t001_000001_iw1"))
        f.create_dataset(
            "/identification/zero_doppler_start_time", data=np.bytes_("2024-03-01 05:12:33.000000")
        )
    with pytest.raises(SlcPairError, match=r"broken\.h5: /data/VV is float32.*not a complex"):
        OperaCslcFile(tmp_path / "broken.h5")
    vv_only = simulated_stack((32, 32), [0.0], 5)
    (tmp_path / "vv").mkdir()
    single = write_opera_cslc(tmp_path / "vv", vv_only, 0)
    with pytest.raises(SlcPairError, match=r"S1A_VV_v1\.1\.h5 has no dataset /data/VH"):
        OperaCslcFile(single, ("VV", "VH"))
