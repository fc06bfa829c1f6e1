"""One GRD scene and polarisation, read window by window onto a map chunk.

``GrdScene`` holds only hrefs (cheap to put in a task graph); its metadata
(calibration, noise, annotation, IPF version, the fitted geocoder) is read
once per worker process and cached. ``sigma0_on_grid`` maps a chunk of the
output grid to radar coordinates, reads only the measurement window those
coordinates need (plus a one-pixel margin), calibrates it and resamples it
bilinearly in linear power.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from scipy.ndimage import map_coordinates

from ..asset_policy import redacted, redacted_message
from ..asset_reader import is_transient, read_retrying
from ..errors import AssetReadError, NotAnalysisReadyError
from .assets import GrdAssets, read_document
from .blocks import read_window
from .geocoding import GcpGeocoder
from .product_xml import (
    LutVectors,
    NoiseVectors,
    ProductAnnotation,
    ipf_at_least,
    parse_annotation,
    parse_calibration,
    parse_ipf_version,
    parse_noise,
)
from .radiometry import sigma0_from_dn

log = logging.getLogger(__name__)

#: Acquisition modes whose GRD products the reader calibrates (WV is vignettes, not images).
SUPPORTED_MODES = frozenset({"IW", "EW", "S1", "S2", "S3", "S4", "S5", "S6"})
#: Border-noise strip masked in range and azimuth on IPF < 2.9 products (when asked), pixels.
BORDER_NOISE_PX = 2000
#: IPF version from which the thermal noise has azimuth vectors and the borders are clean.
MODERN_IPF = (2, 90)


@dataclass(frozen=True)
class GrdMetadata:
    """What calibrating and geocoding one scene-polarisation needs, parsed."""

    calibration: LutVectors
    noise: NoiseVectors
    annotation: ProductAnnotation
    ipf_version: str | None


@dataclass(frozen=True)
class GrdScene:
    """One polarisation of one GRD product, by href.

    Attributes:
        scene_id: the STAC item id.
        assets: hrefs of its files.
        gdal_env: GDAL settings for reading the measurement raster (with the
            requester-pays header where the item needs it).
        thermal_noise: remove the thermal noise (default True).
        border_noise: mask the GRD border noise of IPF < 2.9 products.
        geoid_offset_m: added to DEM heights to make them ellipsoidal (terrain geocoding).
    """

    scene_id: str
    assets: GrdAssets
    gdal_env: tuple[tuple[str, str], ...] = ()
    thermal_noise: bool = True
    border_noise: bool = False
    geoid_offset_m: float = 0.0

    def metadata(self) -> GrdMetadata:
        """The parsed documents (read once per process)."""
        return _metadata(self.assets)

    def geocoder(self, epsg: int) -> GcpGeocoder:
        """The scene's GCP geocoder into ``EPSG:epsg`` (fitted once per process)."""
        return _geocoder(self.assets, epsg)

    def sigma0_on_grid(
        self,
        transform: Affine,
        shape: tuple[int, int],
        epsg: int,
        dem_height: np.ndarray | None = None,
    ) -> np.ndarray:
        """sigma0 (linear power) of the map window ``transform``/``shape`` in ``EPSG:epsg``.

        Args:
            dem_height: DEM heights on the window (metres, as the DEM stores them;
                NaN = none there): terrain geocoding. None: ellipsoid geocoding.

        Returns:
            ``shape`` float32; NaN outside the scene, on nodata (DN 0) and, when
            asked, on the border-noise strips of old products.
        """
        meta = self.metadata()
        lines, samples = meta.annotation.shape
        height = None if dem_height is None else dem_height + self.geoid_offset_m
        line, pixel = self.geocoder(epsg).radar_grid(transform, shape, height)
        inside = (line > -0.5) & (line < lines - 0.5) & (pixel > -0.5) & (pixel < samples - 0.5)
        out = np.full(shape, np.nan, dtype=np.float32)
        if not inside.any():
            return out
        row0 = max(math.floor(line[inside].min()) - 1, 0)
        row1 = min(math.ceil(line[inside].max()) + 2, lines)
        col0 = max(math.floor(pixel[inside].min()) - 1, 0)
        col1 = min(math.ceil(pixel[inside].max()) + 2, samples)
        dn = self._read_window(row0, row1, col0, col1)
        noise = meta.noise if self.thermal_noise else None
        sigma0 = sigma0_from_dn(dn, meta.calibration, noise, row0, col0)
        if (
            self.border_noise
            and meta.ipf_version
            and not ipf_at_least(meta.ipf_version, MODERN_IPF)
        ):
            _mask_border_noise(sigma0, row0, col0, (lines, samples))
        values = map_coordinates(
            sigma0,
            [line[inside] - row0, pixel[inside] - col0],
            order=1,
            mode="nearest",
            prefilter=False,
        )
        out[inside] = values
        return out

    def _read_window(self, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
        href = self.assets.measurement
        env = dict(self.gdal_env)  # requester pays already in it (grd_scenes)
        try:
            for attempt in read_retrying():
                with attempt, rasterio.Env(**env):
                    return read_window(
                        href, (row0, row1), (col0, col1), lambda: rasterio.open(href)
                    )
        except Exception as error:
            kind = "transient" if is_transient(error) else "permanent"
            raise AssetReadError(
                f"scene {self.scene_id}: cannot read {redacted(href)} ({kind} failure): "
                f"{redacted_message(str(error))}"
            ) from None
        raise AssertionError("unreachable: tenacity re-raises the last error")


def _mask_border_noise(
    sigma0: np.ndarray, row0: int, col0: int, image_shape: tuple[int, int]
) -> None:
    """NaN on the border-noise strips of an IPF < 2.9 product where the value is below
    ``BORDER_FLOOR`` (the strips hold low, noisy DNs rather than 0)."""
    lines, samples = image_shape
    rows = np.arange(row0, row0 + sigma0.shape[0])[:, None]
    cols = np.arange(col0, col0 + sigma0.shape[1])[None, :]
    near_edge = (cols < BORDER_NOISE_PX) | (cols >= samples - BORDER_NOISE_PX)
    near_edge = near_edge | (rows < BORDER_NOISE_PX // 4) | (rows >= lines - BORDER_NOISE_PX // 4)
    sigma0[near_edge & (sigma0 < BORDER_FLOOR)] = np.nan


#: sigma0 below which a pixel on an old product's border strip is taken for border noise
#: (-30 dB: under Sentinel-1's noise floor, so no real surface is lost).
BORDER_FLOOR = 1e-3


@functools.lru_cache(maxsize=256)
def _metadata(assets: GrdAssets) -> GrdMetadata:
    def document(href: str) -> bytes:
        return read_document(href, assets.requester_pays)

    annotation = parse_annotation(document(assets.annotation), redacted(assets.annotation))
    if annotation.product_type != "GRD":
        raise NotAnalysisReadyError(
            f"{redacted(assets.annotation)} describes a {annotation.product_type} product; the "
            "GRD reader calibrates GRD products only"
        )
    if annotation.mode not in SUPPORTED_MODES:
        raise NotAnalysisReadyError(
            f"{redacted(assets.annotation)} is a {annotation.mode} (wave mode) product: its "
            "vignettes are not images of the ground to stack; search with "
            "sar:instrument_mode IW, EW or StripMap"
        )
    ipf = None
    if assets.manifest is not None:
        ipf = parse_ipf_version(document(assets.manifest), redacted(assets.manifest))
    return GrdMetadata(
        calibration=parse_calibration(document(assets.calibration), redacted(assets.calibration)),
        noise=parse_noise(document(assets.noise), redacted(assets.noise)),
        annotation=annotation,
        ipf_version=ipf,
    )


@functools.lru_cache(maxsize=256)
def _geocoder(assets: GrdAssets, epsg: int) -> GcpGeocoder:
    return GcpGeocoder.fit(_metadata(assets).annotation.gcps, epsg)
