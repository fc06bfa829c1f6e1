"""Terrain heights for GRD geocoding: a DEM found through STAC, warped onto each chunk.

``find_dem`` searches a DEM collection (Copernicus GLO-30: ``cop-dem-glo-30``
on Planetary Computer and Earth Search) over an area; ``DemSource.heights``
warps its tiles onto a map window (bilinear, GDAL through rasterio). DEM
heights are usually orthometric (GLO-30: EGM2008) while the GRD geometry is
ellipsoidal; the difference (the geoid undulation, within +-100 m, nearly
constant over a scene) is given by the user or estimated per scene from the
GCPs, whose heights are the processor's ellipsoidal terrain heights:
``median(h_gcp - H_dem(gcp))``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pystac
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject

from ..asset_policy import redacted
from ..errors import AssetReadError, EmptySearchError, GridError
from ..search import SceneQuery, search_scenes
from .product_xml import GroundControlPoint

log = logging.getLogger(__name__)

DEFAULT_DEM_COLLECTION = "cop-dem-glo-30"


@dataclass(frozen=True)
class DemSource:
    """DEM tiles by href.

    Attributes:
        hrefs: GeoTIFF/COG tiles of the DEM (any CRS).
        description: what they are (collection, count), for logs and cube attributes.
        gdal_env: GDAL settings for reading them.
    """

    hrefs: tuple[str, ...]
    description: str = "DEM"
    gdal_env: tuple[tuple[str, str], ...] = ()

    def heights(self, transform: Affine, shape: tuple[int, int], epsg: int) -> np.ndarray:
        """DEM heights on a map window, metres (as stored); NaN where no tile covers it."""
        out = np.full(shape, np.nan, dtype=np.float32)
        for href in self.hrefs:
            part = np.full(shape, np.nan, dtype=np.float32)
            try:
                with rasterio.Env(**dict(self.gdal_env)), rasterio.open(href) as dem:
                    reproject(
                        rasterio.band(dem, 1),
                        part,
                        src_nodata=dem.nodata,
                        dst_transform=transform,
                        dst_crs=CRS.from_epsg(epsg),
                        dst_nodata=np.nan,
                        resampling=Resampling.bilinear,
                    )
            except rasterio.errors.RasterioIOError as error:
                raise AssetReadError(
                    f"cannot read the DEM tile {redacted(href)}: {error}"
                ) from None
            out = np.where(np.isnan(out), part, out)
        return out

    def heights_at(self, lon: Sequence[float], lat: Sequence[float]) -> np.ndarray:
        """DEM heights at WGS84 points, metres; NaN where no tile covers a point."""
        out = np.full(len(lon), np.nan)
        for href in self.hrefs:
            with rasterio.Env(**dict(self.gdal_env)), rasterio.open(href) as dem:
                xs, ys = rasterio.warp.transform("EPSG:4326", dem.crs, list(lon), list(lat))
                values = np.array([v[0] for v in dem.sample(zip(xs, ys, strict=True))], float)
                if dem.nodata is not None:
                    values[values == dem.nodata] = np.nan
                inside = np.array(
                    [
                        dem.bounds.left <= x <= dem.bounds.right
                        and dem.bounds.bottom <= y <= dem.bounds.top
                        for x, y in zip(xs, ys, strict=True)
                    ]
                )
                values[~inside] = np.nan
            out = np.where(np.isnan(out), values, out)
        return out


def geoid_offset_from_gcps(dem: DemSource, gcps: Sequence[GroundControlPoint]) -> float:
    """Ellipsoidal minus DEM height, metres: the median over the GCPs the DEM covers."""
    heights = dem.heights_at([g.lon for g in gcps], [g.lat for g in gcps])
    gcp_heights = np.array([g.height_m for g in gcps])
    covered = np.isfinite(heights)
    if covered.sum() < 5:
        log.warning("the DEM covers %d GCPs of the scene: geoid offset taken as 0", covered.sum())
        return 0.0
    return float(np.median(gcp_heights[covered] - heights[covered]))


def find_dem(
    catalog: str,
    bbox: Sequence[float],
    collection: str = DEFAULT_DEM_COLLECTION,
    asset: str = "data",
) -> DemSource:
    """The DEM tiles of ``collection`` in a STAC API or local catalog over a WGS84 ``bbox``.

    Raises:
        GridError: no tile covers the area (naming the collection and the bbox).
    """
    query = SceneQuery(
        collection=collection,
        bbox=(bbox[0], bbox[1], bbox[2], bbox[3]),
        polarizations=(),
    )
    try:
        items: list[pystac.Item] = search_scenes(catalog, query)
    except EmptySearchError:
        items = []
    hrefs = tuple(
        item.assets[asset].get_absolute_href() or item.assets[asset].href
        for item in items
        if asset in item.assets
    )
    if not hrefs:
        raise GridError(
            f"no {collection} DEM tile (asset {asset!r}) covers {list(bbox)} in "
            f"{redacted(catalog)}; point grd.dem_catalog at a catalog with the DEM, or use "
            "terrain: ellipsoid"
        )
    return DemSource(hrefs, f"{collection} ({len(hrefs)} tiles)")
