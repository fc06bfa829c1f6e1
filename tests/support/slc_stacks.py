"""Coregistered SLC stacks from the simulator, written as real products are.

``simulated_stack`` runs the simulator's SLC stack for one scene over several
dates; ``write_opera_cslc`` writes one date as an OPERA L2 CSLC-S1 HDF5 file
(the datasets and attributes of the product specification that readers use,
with their names and dtypes), ``write_complex_geotiff`` as a complex64
GeoTIFF (SNAP) or, without a transform, as a radar-geometry raster beside
lat/lon lookup rasters (ISCE2).
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning

from cohcube.model import SensorGeometry, SlcGrid
from cohcube.model.physics.landcover import Scene, generate_scene
from cohcube.model.physics.simulator import SimulatedAcquisition, simulate_series, slc_grid_for

UTM_EPSG = 32633
#: Bursts of the ``opera_bursts`` fixture: six to train on, one to validate, one held out.
OPERA_BURSTS = [f"t078_{165490 + k}_iw{j}" for k in range(4) for j in (1, 2)]
START = dt.datetime(2024, 3, 1, 5, 12, 33, 250000, tzinfo=dt.UTC)


@dataclass
class SimulatedStack:
    """One scene's coregistered SLC stack and where it lies in UTM."""

    scene: Scene
    grid: SlcGrid
    acquisitions: list[SimulatedAcquisition]
    days: list[float]
    #: Map position of the scene's GRD corner (top-left), metres; multiples of 10.
    corner_xy: tuple[float, float]

    @property
    def sample_transform(self) -> Affine:
        """Transform of the SLC samples' top-left corner (2.3 m east, 14 m south)."""
        dy, dx = self.grid.geometry.slc_spacing_m
        x0 = self.corner_xy[0] + self.grid.origin_m[1]
        y0 = self.corner_xy[1] - self.grid.origin_m[0]
        return Affine(dx, 0, x0, 0, -dy, y0)


def simulated_stack(
    shape: tuple[int, int],
    days: list[float],
    seed: int,
    *,
    polarizations: tuple[str, ...] = ("VV",),
    scene: Scene | None = None,
    corner_xy: tuple[float, float] = (500_000.0, 5_000_000.0),
) -> SimulatedStack:
    rng = np.random.default_rng(seed)
    scene = scene or generate_scene(shape, rng)
    geometry = SensorGeometry()
    acquisitions = list(
        simulate_series(scene, days, rng, polarizations=polarizations, keep_slc=True)
    )
    grid = slc_grid_for(scene, geometry, [(0.0, 0.0)] * len(days))
    return SimulatedStack(scene, grid, acquisitions, list(days), corner_xy)


def opera_name(burst_id: str, when: dt.datetime) -> str:
    track, number, swath = burst_id.split("_")
    stamp = f"{when:%Y%m%dT%H%M%SZ}"
    return (
        f"OPERA_L2_CSLC-S1_{track.upper()}-{number}-{swath.upper()}_{stamp}_20240601T000000Z_"
        "S1A_VV_v1.1.h5"
    )


def write_opera_cslc(
    folder: Path, stack: SimulatedStack, index: int, burst_id: str = "t078_165495_iw3"
) -> Path:
    """Date ``index`` of ``stack`` as an OPERA CSLC-S1 HDF5 burst; returns its path."""
    when = START + dt.timedelta(days=stack.days[index])
    path = folder / opera_name(burst_id, when)
    slc = stack.acquisitions[index].slc
    assert slc is not None
    t = stack.sample_transform
    rows, cols = stack.grid.shape
    x = t.c + t.a * (np.arange(cols) + 0.5)
    y = t.f + t.e * (np.arange(rows) + 0.5)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        for pol, samples in slc.items():
            dset = data.create_dataset(pol, data=samples.astype(np.complex64), chunks=True)
            dset.attrs["description"] = np.bytes_(f"Geocoded SLC image ({pol})")
            dset.attrs["units"] = np.bytes_("unitless")
            dset.attrs["grid_mapping"] = np.bytes_("projection")
        data.create_dataset("x_coordinates", data=x.astype(np.float64))
        data.create_dataset("y_coordinates", data=y.astype(np.float64))
        data.create_dataset("x_spacing", data=np.float64(t.a))
        data.create_dataset("y_spacing", data=np.float64(t.e))
        projection = data.create_dataset("projection", data=np.int32(UTM_EPSG))
        projection.attrs["epsg_code"] = np.int32(UTM_EPSG)
        projection.attrs["grid_mapping_name"] = np.bytes_("universal_transverse_mercator")
        projection.attrs["spatial_ref"] = np.bytes_(CRS.from_epsg(UTM_EPSG).to_wkt())
        ident = f.create_group("identification")
        ident.create_dataset("burst_id", data=np.bytes_(burst_id))
        stamp = f"{when:%Y-%m-%d %H:%M:%S.%f}"
        ident.create_dataset("zero_doppler_start_time", data=np.bytes_(stamp))
        end = when + dt.timedelta(seconds=3)
        ident.create_dataset("zero_doppler_end_time", data=np.bytes_(f"{end:%Y-%m-%d %H:%M:%S.%f}"))
        ident.create_dataset("track_number", data=np.int64(78))
        ident.create_dataset("orbit_pass_direction", data=np.bytes_("Ascending"))
        ident.create_dataset("look_direction", data=np.bytes_("Right"))
        ident.create_dataset("mission_id", data=np.bytes_("S1A"))
        ident.create_dataset("product_type", data=np.bytes_("CSLC-S1"))
        ident.create_dataset("is_geocoded", data=np.bool_(True))
    return path


def write_complex_geotiff(
    path: Path, stack: SimulatedStack, index: int, pol: str = "VV", *, georeferenced: bool = True
) -> Path:
    """Date ``index`` as a complex64 GeoTIFF (UTM), or in radar geometry without a transform."""
    slc = stack.acquisitions[index].slc
    assert slc is not None
    samples = slc[pol]
    profile: dict[str, object] = {
        "driver": "GTiff",
        "height": samples.shape[0],
        "width": samples.shape[1],
        "count": 1,
        "dtype": "complex64",
    }
    if georeferenced:
        profile.update(transform=stack.sample_transform, crs=CRS.from_epsg(UTM_EPSG))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # radar geometry: expected
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(samples, 1)
    return path


def write_lookup(folder: Path, stack: SimulatedStack) -> tuple[Path, Path]:
    """lat/lon rasters (float64, one value per SLC sample) of the stack's samples."""
    from pyproj import Transformer

    t = stack.sample_transform
    rows, cols = stack.grid.shape
    cc, rr = np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
    x, y = t.c + t.a * cc, t.f + t.e * rr
    lon, lat = Transformer.from_crs(UTM_EPSG, 4326, always_xy=True).transform(x, y)
    paths = []
    for name, values in (("lat.rdr.tif", lat), ("lon.rdr.tif", lon)):
        out = folder / name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(
                out, "w", driver="GTiff", height=rows, width=cols, count=1, dtype="float64"
            ) as dst:
                dst.write(values, 1)
        paths.append(out)
    return paths[0], paths[1]
