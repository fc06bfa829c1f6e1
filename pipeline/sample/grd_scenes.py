"""The sample's acquisitions as Level-1 GRD products, shaped like Earth Search ``sentinel-1-grd``.

Each acquisition's simulated sigma0 (on the sample's UTM grid) is put into a
synthetic radar geometry -- lines along the flight direction (heading ~-12 deg
ascending, ~192 deg descending), pixels to its right, the lines of constant
azimuth bending slightly with range as on the real ellipsoid -- and written
as GRD products: uint16 DNs ``round(sqrt(sigma0 * A**2 + eta))`` with 10 x 21
GCPs, real-layout calibration/noise/annotation XMLs and a manifest, under
Earth Search's shortened file names, with Earth Search's traps kept: the
``schema-product-<pol>`` asset points at an RFI annotation, and the items
carry a bbox-derived EPSG:4326 ``proj:*`` that is fiction for radar rasters.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
from affine import Affine
from rasterio.control import GroundControlPoint as RioGcp
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import transform as transform_coords
from scipy.ndimage import map_coordinates

from cohcube.pipeline.grd.geocoding import NOMINAL_IW_INCIDENCE_DEG
from cohcube.pipeline.grd.product_xml import GroundControlPoint
from cohcube.pipeline.grd.radiometry import dn_from_sigma0

from .grd_documents import (
    ProductHeader,
    annotation_document,
    calibration_document,
    manifest_document,
    noise_document,
    sample_luts,
)
from .stac_documents import COG_TYPE, INTERNATIONAL_DESIGNATORS, SAR, SAT, iso_time

#: Lines of constant azimuth time bend along range by this much per metre of range squared.
BEND_PER_M = 5e-8
GCP_LINES, GCP_PIXELS = 10, 21
MARGIN_PX = 8


@dataclass(frozen=True)
class RadarGeometry:
    """Where radar (line, pixel) lies on the map: flight direction, right-looking range.

    Attributes:
        origin: map (x, y) of line 0, pixel 0, metres.
        heading_deg: flight direction, degrees clockwise from north.
        pixel_m: ground pixel spacing in azimuth and range, metres.
        shape: ``(lines, samples)``.
    """

    origin: tuple[float, float]
    heading_deg: float
    pixel_m: float
    shape: tuple[int, int]

    def _axes(self) -> tuple[np.ndarray, np.ndarray]:
        h = math.radians(self.heading_deg)
        along = np.array([math.sin(h), math.cos(h)])
        right = np.array([math.cos(h), -math.sin(h)])
        return along, right

    def to_map(self, line: np.ndarray, pixel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map ``(x, y)`` of radar coordinates (arrays of one shape)."""
        along, right = self._axes()
        a = np.asarray(line, dtype=np.float64) * self.pixel_m
        s = np.asarray(pixel, dtype=np.float64) * self.pixel_m
        a = a + BEND_PER_M * s**2
        x = self.origin[0] + a * along[0] + s * right[0]
        y = self.origin[1] + a * along[1] + s * right[1]
        return x, y

    @classmethod
    def covering(
        cls, transform: Affine, shape: tuple[int, int], orbit_state: str, pixel_m: float
    ) -> RadarGeometry:
        """A radar geometry whose image covers the map grid ``transform``/``shape``, with margin."""
        heading = -12.0 if orbit_state == "ascending" else 192.0
        probe = cls((transform.c, transform.f), heading, pixel_m, (1, 1))
        along, right = probe._axes()
        rows, cols = shape
        corners = np.array([transform @ (c, r) for r in (0, rows) for c in (0, cols)])
        rel = corners - np.array(probe.origin)
        a, s = rel @ along / pixel_m, rel @ right / pixel_m
        line0 = math.floor(a.min()) - MARGIN_PX - 4  # the bend moves far-range lines forward
        pixel0 = math.floor(s.min()) - MARGIN_PX
        origin = np.array(probe.origin) + line0 * pixel_m * along + pixel0 * pixel_m * right
        lines = math.ceil(a.max()) - line0 + MARGIN_PX
        samples = math.ceil(s.max()) - pixel0 + MARGIN_PX
        return cls((float(origin[0]), float(origin[1])), heading, pixel_m, (lines, samples))

    def incidence_deg(self, pixel: np.ndarray) -> np.ndarray:
        """Incidence angle across the swath (IW nominal, near to far), degrees."""
        near, far = NOMINAL_IW_INCIDENCE_DEG
        return near + (far - near) * np.asarray(pixel, dtype=np.float64) / (self.shape[1] - 1)

    def gcps(self, epsg: int, line0: int, lines: int) -> list[GroundControlPoint]:
        """A 10 x 21 geolocation grid over lines ``[line0, line0 + lines)`` (slice-relative)."""
        grid_l, grid_p = np.meshgrid(
            np.linspace(0, lines - 1, GCP_LINES).round(),
            np.linspace(0, self.shape[1] - 1, GCP_PIXELS).round(),
            indexing="ij",
        )
        x, y = self.to_map(grid_l + line0, grid_p)
        lon, lat = transform_coords(f"EPSG:{epsg}", "EPSG:4326", x.ravel(), y.ravel())
        incidence = self.incidence_deg(grid_p.ravel())
        return [
            GroundControlPoint(float(line), float(pixel), float(lo), float(la), 0.0, float(inc))
            for line, pixel, lo, la, inc in zip(
                grid_l.ravel(), grid_p.ravel(), lon, lat, incidence, strict=True
            )
        ]


def radar_image(
    sigma0: np.ndarray,
    transform: Affine,
    geometry: RadarGeometry,
    line0: int,
    lines: int,
    order: Literal[0, 1] = 0,
    dem: np.ndarray | None = None,
) -> np.ndarray:
    """sigma0 of ``(bands, rows, cols)`` map rasters resampled onto radar lines
    ``[line0, line0 + lines)``: ``(bands, lines, samples)``, NaN off the map.

    ``order`` 0 (nearest, the sample's choice) keeps speckle statistics as the
    simulator made them, so the only smoothing a GRD cube shows is its own
    geocoding's, as with real products; 1 (bilinear) suits smooth test fields.
    ``dem`` (heights on the map grid, metres above the ellipsoid; the GCPs stay at
    height 0) puts each radar pixel on the terrain point with its slant range:
    farther from the sensor than the ellipsoid point by ``h cot(incidence)``.
    """
    line, pixel = np.meshgrid(
        np.arange(line0, line0 + lines, dtype=np.float64),
        np.arange(geometry.shape[1], dtype=np.float64),
        indexing="ij",
    )
    x, y = geometry.to_map(line, pixel)
    if dem is not None:
        _, right = geometry._axes()
        cot = 1.0 / np.tan(np.radians(geometry.incidence_deg(pixel)))
        x0, y0 = x, y
        for _ in range(6):  # fixed point: the height is that of the displaced point
            col, row = ~transform @ (x, y)
            h = map_coordinates(dem, [row - 0.5, col - 0.5], order=1, mode="nearest")
            x, y = x0 + h * cot * right[0], y0 + h * cot * right[1]
    col, row = ~transform @ (x, y)
    coords = [np.asarray(row) - 0.5, np.asarray(col) - 0.5]
    return np.stack(
        [
            map_coordinates(band, coords, order=order, cval=np.nan, prefilter=False)
            for band in sigma0
        ]
    )


def write_grd_product(
    folder: Path,
    header: ProductHeader,
    pass_direction: str,
    sigma0: np.ndarray,
    gcps: list[GroundControlPoint],
    pixel_m: float,
    polarisations: tuple[str, ...] = ("vv", "vh"),
) -> dict[str, Path]:
    """Write one GRD product's measurement rasters and documents; paths keyed as Earth Search does.

    Args:
        sigma0: ``(len(polarisations), lines, samples)`` linear power, NaN = no data.
    """
    shape = (sigma0.shape[1], sigma0.shape[2])
    files: dict[str, Path] = {"safe-manifest": folder / "manifest.safe"}
    _write(files["safe-manifest"], manifest_document())
    rio_gcps = [RioGcp(g.line, g.pixel, g.lon, g.lat, g.height_m) for g in gcps]
    for p, pol in enumerate(polarisations):
        pol_header = ProductHeader(
            **{**header.__dict__, "polarisation": pol.upper(), "image_number": f"{p + 1:03d}"}
        )
        gain, noise = sample_luts(shape, pol)
        name = f"iw-{pol}"
        files[f"schema-calibration-{pol}"] = (
            folder / f"annotation/calibration/calibration-{name}.xml"
        )
        files[f"schema-noise-{pol}"] = folder / f"annotation/calibration/noise-{name}.xml"
        files[f"schema-product-{pol}"] = folder / f"annotation/rfi/rfi-{name}.xml"
        files[f"annotation-{pol}"] = folder / f"annotation/{name}.xml"
        files[pol] = folder / f"measurement/{name}.tiff"
        _write(files[f"schema-calibration-{pol}"], calibration_document(pol_header, gain, shape[0]))
        _write(files[f"schema-noise-{pol}"], noise_document(pol_header, noise, shape[0]))
        _write(files[f"schema-product-{pol}"], b'<?xml version="1.0"?>\n<rfi><adsHeader/></rfi>\n')
        _write(
            files[f"annotation-{pol}"],
            annotation_document(pol_header, shape, pass_direction, gcps, pixel_m),
        )
        dn = dn_from_sigma0(np.nan_to_num(sigma0[p], nan=0.0), gain, noise)
        dn = np.clip(np.round(dn), 1, 65535).astype(np.uint16)
        dn[~np.isfinite(sigma0[p])] = 0
        files[pol].parent.mkdir(parents=True, exist_ok=True)
        profile = {
            "driver": "GTiff",
            "height": shape[0],
            "width": shape[1],
            "count": 1,
            "dtype": "uint16",
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
            "compress": "deflate",
        }
        with warnings.catch_warnings():
            # GCPs are set after opening, so GDAL briefly sees a raster without georeference.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(files[pol], "w", **profile) as dst:
                dst.write(dn, 1)
                dst.gcps = (rio_gcps, CRS.from_epsg(4326))
    return files


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def grd_item(
    *,
    product_id: str,
    when: dt.datetime,
    platform: str,
    relative_orbit: int,
    absolute_orbit: int,
    orbit_state: str,
    gcps: list[GroundControlPoint],
    shape: tuple[int, int],
    files: dict[str, Path],
    polarisations: tuple[str, ...] = ("vv", "vh"),
) -> dict[str, Any]:
    """An Earth Search-shaped ``sentinel-1-grd`` item (fake EPSG:4326 ``proj:*`` included)."""
    lon = [g.lon for g in gcps]
    lat = [g.lat for g in gcps]
    bbox = [min(lon), min(lat), max(lon), max(lat)]
    corner = [g for g in gcps if g.pixel in (0, max(p.pixel for p in gcps))]
    ring = sorted(corner, key=lambda g: (g.line, g.pixel))
    first, last = ring[:2], ring[-2:]
    outline = [first[0], first[1], last[1], last[0], first[0]]
    start = when - dt.timedelta(seconds=12)
    assets = _earth_search_assets(files, polarisations)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            SAR,
            SAT,
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
        ],
        "id": product_id,
        "collection": "sentinel-1-grd",
        "geometry": {"type": "Polygon", "coordinates": [[[g.lon, g.lat] for g in outline]]},
        "bbox": bbox,
        "properties": {
            "datetime": iso_time(when),
            "start_datetime": iso_time(start),
            "end_datetime": iso_time(start + dt.timedelta(seconds=25)),
            "platform": platform.lower(),
            "constellation": "sentinel-1",
            "sar:instrument_mode": "IW",
            "sar:frequency_band": "C",
            "sar:polarizations": [p.upper() for p in polarisations],
            "sar:product_type": "GRD",
            "sar:looks_equivalent_number": 4.4,
            "sat:orbit_state": orbit_state,
            "sat:relative_orbit": relative_orbit,
            "sat:absolute_orbit": absolute_orbit,
            "sat:platform_international_designator": INTERNATIONAL_DESIGNATORS.get(platform, ""),
            "s1:product_identifier": product_id,
            "s1:processing_level": "1",
            "storage:requester_pays": False,
            # Earth Search's fiction: a transform from the bbox, for a radar-geometry raster.
            "proj:epsg": 4326,
            "proj:bbox": bbox,
            "proj:shape": list(shape),
            "proj:transform": [
                (bbox[2] - bbox[0]) / shape[1],
                0,
                bbox[0],
                0,
                -(bbox[3] - bbox[1]) / shape[0],
                bbox[3],
            ],
        },
        "links": [],
        "assets": assets,
    }


def _earth_search_assets(files: dict[str, Path], polarisations: tuple[str, ...]) -> dict[str, Any]:
    """The assets of a GRD item as Earth Search lists them (the RFI trap included)."""
    assets: dict[str, Any] = {
        "safe-manifest": {
            "href": str(files["safe-manifest"]),
            "type": "application/xml",
            "roles": ["metadata"],
        },
    }
    for pol in polarisations:
        for kind in ("product", "calibration", "noise"):
            assets[f"schema-{kind}-{pol}"] = {
                "href": str(files[f"schema-{kind}-{pol}"]),
                "type": "application/xml",
                "roles": ["metadata"],
            }
        assets[pol] = {
            "href": str(files[pol]),
            "type": COG_TYPE,
            "roles": ["data"],
            "raster:bands": [{"nodata": 0, "data_type": "uint16"}],
        }
    return assets
