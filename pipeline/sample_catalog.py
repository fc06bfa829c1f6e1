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
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS

from cohcube.model import (
    ChangeKind,
    FieldState,
    Scene,
    field_states,
    generate_scene,
    plan_change_events,
    true_coherence,
)
from cohcube.model.change_events import ChangeEvent
from cohcube.model.simulator import acquire_states, random_offset

from .stac_items import GAMMA0_NODATA, RASTER, collection_document, rtc_item

log = logging.getLogger(__name__)

SAMPLE_FORMAT = 1
# No overviews: speckled float32 does not compress, and the sample stays ~0.45 GB.
COG_OPTIONS = {
    "driver": "COG",
    "compress": "ZSTD",
    "level": 1,
    "blocksize": 512,
    "overviews": "NONE",
}
TRUTH_SCALE = 0.004
TRUTH_NODATA = 255
CHANGE_KIND_CODES = {kind: code for code, kind in enumerate(ChangeKind, start=1)}


@dataclass(frozen=True)
class SampleSpec:
    """What the sample catalog holds; equal specs give byte-identical catalogs."""

    seed: int = 2026
    size_px: int = 2048
    pixel_m: float = 10.0
    epsg: int = 32633
    origin: tuple[float, float] = (600_000.0, 5_200_000.0)  # top-left corner, metres
    start: str = "2026-03-02T16:51:30Z"
    platforms: tuple[str, ...] = ("SENTINEL-1A", "SENTINEL-1C")
    acquisitions_per_platform: int = 7
    repeat_days: float = 12.0
    platform_offset_days: float = 6.0
    relative_orbit: int = 73
    orbit_state: str = "ascending"
    change_probability: float = 0.25
    max_misregistration_px: float = 0.5
    truth_baselines_days: tuple[float, ...] = (6.0, 12.0, 24.0)
    slice_overlap_px: int = 64
    block_px: int = 1024
    workers: int = 2

    def acquisition_days(self) -> list[tuple[float, str]]:
        """``(day, platform)`` of every acquisition, in time order."""
        days = [
            (k * self.platform_offset_days + n * self.repeat_days, platform)
            for k, platform in enumerate(self.platforms)
            for n in range(self.acquisitions_per_platform)
        ]
        return sorted(days)

    def key(self) -> str:
        text = json.dumps({"spec": asdict(self), "format": SAMPLE_FORMAT}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SampleCatalog:
    """Paths of a written sample catalog."""

    root: Path

    @property
    def items(self) -> Path:
        """ItemCollection of the backscatter scenes (give this to ``search_scenes``)."""
        return self.root / "sentinel-1-rtc" / "items.json"

    @property
    def collection(self) -> Path:
        return self.root / "sentinel-1-rtc" / "collection.json"

    @property
    def truth_items(self) -> Path:
        return self.root / "truth" / "items.json"

    @property
    def truth_collection(self) -> Path:
        return self.root / "truth" / "collection.json"

    @property
    def manifest(self) -> Path:
        return self.root / "sample.json"


def _simulate_block(
    task: tuple[Scene, list[FieldState], list[tuple[float, float]], str, np.random.SeedSequence],
) -> NDArray[np.float32]:
    scene, states, offsets, pol, seed = task
    rng = np.random.default_rng(seed)
    acquisitions = acquire_states(scene, states, rng, polarizations=(pol,), offsets_px=offsets)
    return np.stack([a.intensity[0] for a in acquisitions])


def _simulate(
    spec: SampleSpec, scene: Scene, states: list[FieldState], offsets: list[tuple[float, float]]
) -> NDArray[np.float32]:
    """Backscatter ``(n_dates, 2, size, size)``; blocks x polarisations run in parallel."""
    size, block = spec.size_px, spec.block_px
    pols = ("VV", "VH")
    cells = [
        (by, bx, p)
        for by in range(0, size, block)
        for bx in range(0, size, block)
        for p in range(len(pols))
    ]
    tasks = [
        (
            scene.crop(slice(by, by + block), slice(bx, bx + block)),
            states,
            offsets,
            pols[p],
            np.random.SeedSequence([spec.seed, 1, by, bx, p]),
        )
        for by, bx, p in cells
    ]
    if spec.workers > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(spec.workers, mp_context=context) as pool:
            results = list(pool.map(_simulate_block, tasks))
    else:
        results = [_simulate_block(t) for t in tasks]
    out = np.empty((len(states), len(pols), size, size), dtype=np.float32)
    for (by, bx, p), result in zip(cells, results, strict=True):
        out[:, p, by : by + result.shape[1], bx : bx + result.shape[2]] = result
    return out


def _write_cog(
    path: Path, data: NDArray[Any], transform: Affine, crs: CRS, nodata: float | int
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        **COG_OPTIONS,
    ) as dst:
        dst.write(data, 1)


def _scene_id(platform: str, when: dt.datetime, absolute_orbit: int, seed: int, part: int) -> str:
    start = when - dt.timedelta(seconds=12)
    end = start + dt.timedelta(seconds=25)
    unique = hashlib.sha256(f"{seed}{when.isoformat()}{part}".encode()).hexdigest()[:4].upper()
    return (
        f"S1{platform[-1]}_IW_GRDH_1SDV_{start:%Y%m%dT%H%M%S}_{end:%Y%m%dT%H%M%S}_"
        f"{absolute_orbit:06d}_{absolute_orbit * 7 % 0xFFFFFF:06X}_{unique}_rtc"
    )


def write_sample_catalog(out_dir: Path, spec: SampleSpec | None = None) -> SampleCatalog:
    """Simulate and write the sample catalog into ``out_dir`` (created; must be empty)."""
    spec = spec or SampleSpec()
    started = time.perf_counter()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty; the sample catalog needs an empty folder")
    catalog = SampleCatalog(out_dir)
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 0]))
    scene = generate_scene((spec.size_px, spec.size_px), rng, pixel_m=spec.pixel_m)
    schedule = spec.acquisition_days()
    days = [d for d, _ in schedule]
    events = plan_change_events(scene, days[0], days[-1], spec.change_probability, rng)
    states = field_states(scene, days, events, rng)
    offsets = [random_offset(spec.max_misregistration_px, rng) for _ in days]
    log.info(
        "simulating %d acquisitions of %d x %d px (VV+VH)", len(days), spec.size_px, spec.size_px
    )
    backscatter = _simulate(spec, scene, states, offsets)
    crs = CRS.from_epsg(spec.epsg)
    x0, y0 = spec.origin
    start = dt.datetime.fromisoformat(spec.start.replace("Z", "+00:00"))
    half = spec.size_px // 2
    lap = spec.slice_overlap_px // 2
    slices = [(0, half + lap), (half - lap, spec.size_px)]
    items: list[dict[str, Any]] = []
    acquired: list[tuple[float, str, str]] = []
    for (day, platform), intensity in zip(schedule, backscatter, strict=True):
        when = start + dt.timedelta(days=day)
        cycle = int(day // spec.repeat_days)
        absolute = (62_000 if platform.endswith("A") else 1_500) + 175 * cycle + spec.relative_orbit
        for part, (r0, r1) in enumerate(slices):
            # Ascending pass: the southern slice is acquired first.
            slice_time = when + dt.timedelta(seconds=20 * (1 - part))
            item_id = _scene_id(platform, slice_time, absolute, spec.seed, part)
            transform = Affine(spec.pixel_m, 0, x0, 0, -spec.pixel_m, y0 - r0 * spec.pixel_m)
            hrefs = {}
            for p, pol in enumerate(("vv", "vh")):
                path = out_dir / "sentinel-1-rtc" / item_id / f"{pol}.tif"
                _write_cog(path, intensity[p, r0:r1], transform, crs, GAMMA0_NODATA)
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
        acquired.append((day, _isoformat(when), platform))
    _write_json(catalog.items, {"type": "FeatureCollection", "features": items})
    _write_json(
        catalog.collection,
        collection_document(
            "sentinel-1-rtc",
            "cohcube sample: simulated Sentinel-1 IW gamma0 (linear power), "
            "shaped like Planetary Computer sentinel-1-rtc",
            items,
        ),
    )
    grid_transform = Affine(spec.pixel_m, 0, x0, 0, -spec.pixel_m, y0)
    truth = _write_truth(out_dir, spec, scene, states, acquired, events, grid_transform, crs)
    _write_json(catalog.truth_items, {"type": "FeatureCollection", "features": truth})
    _write_json(
        catalog.truth_collection,
        collection_document(
            "cohcube-sample-truth",
            "True VV coherence of the sample's 6/12/24-day pairs and the simulated change events",
            truth,
            extensions=(RASTER,),
        ),
    )
    seconds = time.perf_counter() - started
    _write_json(
        catalog.manifest,
        {
            "format": SAMPLE_FORMAT,
            "key": spec.key(),
            "spec": asdict(spec),
            "cohcube": version("cohcube"),
            "generation_seconds": round(seconds, 1),
            "acquisitions": len(days),
            "scene_items": len(items),
            "truth_items": len(truth),
            "change_events": len(events),
        },
    )
    log.info("sample catalog written to %s in %.1f s", out_dir, seconds)
    return catalog


def _write_truth(
    out_dir: Path,
    spec: SampleSpec,
    scene: Scene,
    states: list[FieldState],
    acquired: list[tuple[float, str, str]],
    events: list[ChangeEvent],
    transform: Affine,
    crs: CRS,
) -> list[dict[str, Any]]:
    from .stac_items import footprint

    geometry, bbox = footprint(crs, transform, scene.shape)
    shape = list(scene.shape)
    proj = {"proj:epsg": spec.epsg, "proj:shape": shape, "proj:transform": list(transform)[:6]}
    items: list[dict[str, Any]] = []
    nesz = -22.0
    for i, (day_i, when_i, platform_i) in enumerate(acquired):
        for j in range(i + 1, len(acquired)):
            day_j, when_j, platform_j = acquired[j]
            baseline = day_j - day_i
            if not any(abs(baseline - b) < 1e-6 for b in spec.truth_baselines_days):
                continue
            coherence = true_coherence(scene, states[i], states[j], "VV", nesz)
            scaled = np.round(coherence / TRUTH_SCALE).astype(np.uint8)
            pair_id = f"truth-vv-{when_i[:10]}-{when_j[:10]}"
            path = out_dir / "truth" / pair_id / "coherence-vv.tif"
            _write_cog(path, scaled, transform, crs, TRUTH_NODATA)
            items.append(
                {
                    "type": "Feature",
                    "stac_version": "1.0.0",
                    "stac_extensions": [RASTER],
                    "id": pair_id,
                    "collection": "cohcube-sample-truth",
                    "geometry": geometry,
                    "bbox": bbox,
                    "links": [],
                    "properties": {
                        "datetime": when_j,
                        "cohcube:reference_datetime": when_i,
                        "cohcube:secondary_datetime": when_j,
                        "cohcube:temporal_baseline_days": baseline,
                        "cohcube:reference_platform": platform_i,
                        "cohcube:secondary_platform": platform_j,
                        "sat:relative_orbit": spec.relative_orbit,
                        "sat:orbit_state": spec.orbit_state,
                        **proj,
                    },
                    "assets": {
                        "coherence-vv": {
                            "href": str(path.resolve()),
                            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                            "roles": ["data"],
                            "raster:bands": [
                                {
                                    "data_type": "uint8",
                                    "nodata": TRUTH_NODATA,
                                    "scale": TRUTH_SCALE,
                                    "offset": 0.0,
                                }
                            ],
                        }
                    },
                }
            )
    items.append(
        _changes_item(out_dir, spec, scene, events, acquired, transform, crs, geometry, bbox, proj)
    )
    return items


def _changes_item(
    out_dir: Path,
    spec: SampleSpec,
    scene: Scene,
    events: list[ChangeEvent],
    acquired: list[tuple[float, str, str]],
    transform: Affine,
    crs: CRS,
    geometry: dict[str, Any],
    bbox: list[float],
    proj: dict[str, Any],
) -> dict[str, Any]:
    """Map of the simulated events: day after the first acquisition and kind, per pixel."""
    n_fields = len(scene.fields.land_cover)
    day = np.full(n_fields, -1, dtype=np.int16)
    kind = np.zeros(n_fields, dtype=np.uint8)
    for ev in events:
        day[ev.field] = int(np.floor(ev.day))
        kind[ev.field] = CHANGE_KIND_CODES[ev.kind]
    folder = out_dir / "truth" / "changes"
    _write_cog(folder / "change-day.tif", day[scene.field_id], transform, crs, -1)
    _write_cog(folder / "change-kind.tif", kind[scene.field_id], transform, crs, 0)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [RASTER],
        "id": "changes",
        "collection": "cohcube-sample-truth",
        "geometry": geometry,
        "bbox": bbox,
        "links": [],
        "properties": {
            "start_datetime": acquired[0][1],
            "end_datetime": acquired[-1][1],
            "datetime": None,
            "cohcube:events": len(events),
            "cohcube:change_kinds": {str(c): k.value for k, c in CHANGE_KIND_CODES.items()},
            **proj,
        },
        "assets": {
            "change-day": {
                "href": str((folder / "change-day.tif").resolve()),
                "title": "Days from the first acquisition to the change event",
                "roles": ["data"],
                "raster:bands": [{"data_type": "int16", "nodata": -1}],
            },
            "change-kind": {
                "href": str((folder / "change-kind.tif").resolve()),
                "title": "Kind of change (see cohcube:change_kinds)",
                "roles": ["data"],
                "raster:bands": [{"data_type": "uint8", "nodata": 0}],
            },
        },
    }


def _isoformat(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")


def cache_root() -> Path:
    """``$COHCUBE_CACHE_DIR`` or ``~/.cache/cohcube``."""
    configured = os.environ.get("COHCUBE_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "cohcube"


def default_sample_catalog(spec: SampleSpec | None = None, cache_dir: Path | None = None) -> Path:
    """Items file of the sample catalog, generated into the cache on first use.

    Generation happens in a temporary folder renamed into place when complete,
    so an interrupted run never leaves a half-written sample that looks usable.
    """
    spec = spec or SampleSpec()
    root = (cache_dir or cache_root()) / f"sample-{spec.key()}"
    catalog = SampleCatalog(root)
    if catalog.manifest.exists():
        return catalog.items
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".sample-", dir=root.parent))
    try:
        write_sample_catalog(staging, spec)
        for items in staging.rglob("items.json"):
            rebase_asset_hrefs(items, str(staging.resolve()), str(root.resolve()))
        try:
            staging.rename(root)
        except OSError:
            if not catalog.manifest.exists():  # not a concurrent winner: a real failure
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return catalog.items


def rebase_asset_hrefs(
    items_file: Path, old_prefix: str, new_prefix: str, out_file: Path | None = None
) -> Path:
    """Rewrite asset hrefs starting with ``old_prefix`` to start with ``new_prefix``.

    E.g. publish a sample catalog over HTTP: ``rebase_asset_hrefs(items, root,
    "https://host/sample", out)``. Writes ``out_file`` (default: in place).
    """
    document = json.loads(items_file.read_text())
    for feature in document.get("features", [document]):
        for asset in feature.get("assets", {}).values():
            href = asset.get("href", "")
            if href.startswith(old_prefix):
                asset["href"] = new_prefix + href[len(old_prefix) :]
    target = out_file or items_file
    _write_json(target, document)
    return target


def truth_for_pairs(
    catalog: SampleCatalog, reference: Sequence[Any], secondary: Sequence[Any]
) -> list[NDArray[np.float32] | None]:
    """True VV coherence of each (reference, secondary) acquisition pair, or None if absent.

    Times are matched to the day (the truth items carry the first slice's time).
    """
    index: dict[tuple[str, str], str] = {}
    for item in json.loads(catalog.truth_items.read_text())["features"]:
        props = item["properties"]
        if "cohcube:reference_datetime" in props:
            key = (
                props["cohcube:reference_datetime"][:10],
                props["cohcube:secondary_datetime"][:10],
            )
            index[key] = item["assets"]["coherence-vv"]["href"]
    out: list[NDArray[np.float32] | None] = []
    for ref, sec in zip(reference, secondary, strict=True):
        href = index.get((str(np.datetime64(ref, "D")), str(np.datetime64(sec, "D"))))
        if href is None:
            out.append(None)
            continue
        with rasterio.open(href) as src:
            raw = src.read(1)
        values = raw.astype(np.float32) * np.float32(TRUTH_SCALE)
        values[raw == TRUTH_NODATA] = np.nan
        out.append(values)
    return out
