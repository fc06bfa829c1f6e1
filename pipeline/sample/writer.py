"""The embedded sample catalog: a simulated Sentinel-1 time series published as STAC + COGs.

Deterministic from its seed: a 20 km x 20 km UTM region, one relative orbit
seen by two platforms six days apart (12-day repeat each), VV+VH gamma0 in
linear power as Cloud-Optimized GeoTIFFs, each acquisition delivered as two
overlapping slices (as Sentinel-1 frames are), with items shaped like
Planetary Computer's ``sentinel-1-rtc`` (half declaring ``proj:code``, half
``proj:epsg``). A second collection holds the simulator's true VV coherence
for every 6/12/24-day pair and the map of simulated change events.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from affine import Affine
from rasterio.crs import CRS

from cohcube.model.errors import OccupiedPathError

from .files import write_cog, write_json
from .grd_documents import ProductHeader
from .grd_scenes import RadarGeometry, grd_item, radar_image, write_grd_product
from .simulate import SimulatedSample, simulate_sample
from .spec import SAMPLE_FORMAT, SampleCatalog, SampleSpec
from .stac_documents import GAMMA0_NODATA, RASTER, collection_document, iso_time, rtc_item
from .truth_writer import write_truth

log = logging.getLogger(__name__)


def _scene_id(platform: str, when: dt.datetime, absolute_orbit: int, seed: int, part: int) -> str:
    start = when - dt.timedelta(seconds=12)
    end = start + dt.timedelta(seconds=25)
    unique = hashlib.sha256(f"{seed}{when.isoformat()}{part}".encode()).hexdigest()[:4].upper()
    return (
        f"S1{platform[-1]}_IW_GRDH_1SDV_{start:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}_"
        f"{absolute_orbit:06d}_{absolute_orbit * 7 % 0xFFFFFF:06X}_{unique}_rtc"
    )


def _acquisitions(spec: SampleSpec) -> list[tuple[float, str, dt.datetime, int]]:
    """``(day, platform, time, absolute orbit)`` of every acquisition, in time order."""
    start = dt.datetime.fromisoformat(spec.start.replace("Z", "+00:00"))
    found = []
    for day, platform in spec.acquisition_days():
        cycle = int(day // spec.repeat_days)
        absolute = (62_000 if platform.endswith("A") else 1_500) + 175 * cycle + spec.relative_orbit
        found.append((day, platform, start + dt.timedelta(days=day), absolute))
    return found


def _write_scenes(
    out_dir: Path, spec: SampleSpec, sample: SimulatedSample, crs: CRS
) -> tuple[list[dict[str, Any]], list[tuple[float, str, str]]]:
    """Every acquisition's two slices as VV/VH COGs and RTC items.

    Returns:
        ``(items, acquired)``: the STAC items, and ``(day, time, platform)``
        of every acquisition (its first slice's time).
    """
    x0, y0 = spec.origin
    half, lap = spec.size_px // 2, spec.slice_overlap_px // 2
    slices = [(0, half + lap), (half - lap, spec.size_px)]
    items: list[dict[str, Any]] = []
    acquired: list[tuple[float, str, str]] = []
    for (day, platform, when, absolute), intensity in zip(
        _acquisitions(spec), sample.backscatter, strict=True
    ):
        for part, (r0, r1) in enumerate(slices):
            # Ascending pass: the southern slice is acquired first.
            slice_time = when + dt.timedelta(seconds=20 * (1 - part))
            item_id = _scene_id(platform, slice_time, absolute, spec.seed, part)
            transform = Affine(spec.pixel_m, 0, x0, 0, -spec.pixel_m, y0 - r0 * spec.pixel_m)
            hrefs = {}
            for p, pol in enumerate(("vv", "vh")):
                path = out_dir / "sentinel-1-rtc" / item_id / f"{pol}.tif"
                write_cog(path, intensity[p, r0:r1], transform, crs, GAMMA0_NODATA)
                hrefs[pol] = str(path.resolve())
            items.append(
                rtc_item(
                    item_id=item_id,
                    when=slice_time,
                    platform=platform,
                    relative_orbit=spec.relative_orbit,
                    absolute_orbit=absolute,
                    orbit_state=spec.orbit_state,
                    crs=crs,
                    transform=transform,
                    shape=(r1 - r0, spec.size_px),
                    assets=hrefs,
                    projection_v2=len(items) % 2 == 0,
                )
            )
        acquired.append((day, iso_time(when), platform))
    return items, acquired


def _write_grd_scenes(
    out_dir: Path, spec: SampleSpec, sample: SimulatedSample
) -> tuple[list[dict[str, Any]], list[tuple[float, str, str]]]:
    """Every acquisition as two overlapping GRD slices (radar geometry) and Earth Search items."""
    grid_transform = Affine(spec.pixel_m, 0, spec.origin[0], 0, -spec.pixel_m, spec.origin[1])
    shape = (spec.size_px, spec.size_px)
    geometry = RadarGeometry.covering(grid_transform, shape, spec.orbit_state, spec.pixel_m)
    lines = geometry.shape[0]
    half, lap = lines // 2, spec.slice_overlap_px // 2
    slices = [(0, half + lap), (half - lap, lines)]
    items: list[dict[str, Any]] = []
    acquired: list[tuple[float, str, str]] = []
    for (day, platform, when, absolute), intensity in zip(
        _acquisitions(spec), sample.backscatter, strict=True
    ):
        for part, (l0, l1) in enumerate(slices):
            slice_time = when + dt.timedelta(seconds=20 * part)  # line 0 is acquired first
            item_id = _scene_id(platform, slice_time, absolute, spec.seed, part)[: -len("_rtc")]
            image = radar_image(intensity, grid_transform, geometry, l0, l1 - l0)
            gcps = geometry.gcps(spec.epsg, l0, l1 - l0)
            header = ProductHeader(
                mission=f"S1{platform[-1]}",
                polarisation="VV",
                start=slice_time - dt.timedelta(seconds=12),
                stop=slice_time + dt.timedelta(seconds=13),
                absolute_orbit=absolute,
                image_number="001",
            )
            files = write_grd_product(
                out_dir / "sentinel-1-grd" / item_id,
                header,
                spec.orbit_state,
                image,
                gcps,
                spec.pixel_m,
            )
            items.append(
                grd_item(
                    product_id=item_id,
                    when=slice_time,
                    platform=platform,
                    relative_orbit=spec.relative_orbit,
                    absolute_orbit=absolute,
                    orbit_state=spec.orbit_state,
                    gcps=gcps,
                    shape=image.shape[1:],
                    files={k: v.resolve() for k, v in files.items()},
                )
            )
        acquired.append((day, iso_time(when), platform))
    return items, acquired


def write_sample_catalog(out_dir: Path, spec: SampleSpec | None = None) -> SampleCatalog:
    """Simulate and write the sample catalog into ``out_dir`` (created; must be empty).

    Raises:
        OccupiedPathError: ``out_dir`` exists and is not empty.
    """
    spec = spec or SampleSpec()
    started = time.perf_counter()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise OccupiedPathError(f"{out_dir} is not empty; the sample catalog needs an empty folder")
    catalog = SampleCatalog(out_dir, spec.source)
    sample = simulate_sample(spec)
    crs = CRS.from_epsg(spec.epsg)
    if spec.source == "grd":
        items, acquired = _write_grd_scenes(out_dir, spec, sample)
    else:
        items, acquired = _write_scenes(out_dir, spec, sample, crs)
    write_json(catalog.items, {"type": "FeatureCollection", "features": items})
    write_json(
        catalog.collection,
        collection_document(
            catalog.collection_id,
            "cohcube sample: simulated Sentinel-1 IW Level-1 GRD products (uint16 DNs, GCPs, "
            "calibration and noise XMLs), shaped like Earth Search sentinel-1-grd"
            if spec.source == "grd"
            else "cohcube sample: simulated Sentinel-1 IW gamma0 (linear power), "
            "shaped like Planetary Computer sentinel-1-rtc",
            items,
        ),
    )
    grid_transform = Affine(spec.pixel_m, 0, spec.origin[0], 0, -spec.pixel_m, spec.origin[1])
    truth = write_truth(
        out_dir, spec, sample.scene, sample.states, acquired, sample.events, grid_transform, crs
    )
    write_json(catalog.truth_items, {"type": "FeatureCollection", "features": truth})
    write_json(
        catalog.truth_collection,
        collection_document(
            "cohcube-sample-truth",
            "True VV coherence of the sample's 6/12/24-day pairs and the simulated change events",
            truth,
            extensions=(RASTER,),
        ),
    )
    seconds = time.perf_counter() - started
    write_json(
        catalog.manifest,
        {
            "format": SAMPLE_FORMAT,
            "key": spec.key(),
            "spec": asdict(spec),
            "cohcube": version("cohcube"),
            "generation_seconds": round(seconds, 1),
            "acquisitions": len(acquired),
            "scene_items": len(items),
            "truth_items": len(truth),
            "change_events": len(sample.events),
        },
    )
    log.info("sample catalog written to %s in %.1f s", out_dir, seconds)
    return catalog
