"""The sample's truth collection: true VV coherence of every 6/12/24-day pair, and the events.

Pair items hold the simulator's true coherence as uint8 COGs (``TRUTH_SCALE``
steps); the ``changes`` item maps each changed pixel's event day and kind, and the day a
flood receded (a second event of the same field).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from cohcube.model.physics.change_events import ChangeEvent, ChangeKind, FieldState
from cohcube.model.physics.landcover import Scene
from cohcube.model.physics.radiometry import SENTINEL1_IW_NESZ_DB
from cohcube.model.physics.simulator import true_coherence
from cohcube.pipeline.grid import footprint

from .files import write_cog
from .spec import CHANGE_KIND_CODES, TRUTH_NODATA, TRUTH_SCALE, SampleSpec
from .stac_documents import COG_TYPE, RASTER


def write_truth(
    out_dir: Path,
    spec: SampleSpec,
    scene: Scene,
    states: list[FieldState],
    acquired: list[tuple[float, str, str]],
    events: list[ChangeEvent],
    transform: Affine,
    crs: CRS,
) -> list[dict[str, Any]]:
    geometry, bbox = footprint(crs, transform, scene.shape)
    shape = list(scene.shape)
    proj = {"proj:epsg": spec.epsg, "proj:shape": shape, "proj:transform": list(transform)[:6]}
    items: list[dict[str, Any]] = []
    for i, (day_i, when_i, platform_i) in enumerate(acquired):
        for j in range(i + 1, len(acquired)):
            day_j, when_j, platform_j = acquired[j]
            baseline = day_j - day_i
            if not any(abs(baseline - b) < 1e-6 for b in spec.truth_baselines_days):
                continue
            coherence = true_coherence(scene, states[i], states[j], "VV", SENTINEL1_IW_NESZ_DB)
            scaled = np.round(coherence / TRUTH_SCALE).astype(np.uint8)
            pair_id = f"truth-vv-{when_i[:10]}-{when_j[:10]}"
            path = out_dir / "truth" / pair_id / "coherence-vv.tif"
            write_cog(path, scaled, transform, crs, TRUTH_NODATA)
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
                            "type": COG_TYPE,
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
    recession = np.full(n_fields, -1, dtype=np.int16)
    for ev in events:
        day[ev.field] = int(np.floor(ev.day))
        kind[ev.field] = CHANGE_KIND_CODES[ev.kind]
        if ev.kind is ChangeKind.FLOOD:
            recession[ev.field] = int(np.floor(ev.day + ev.duration_days))
    folder = out_dir / "truth" / "changes"
    write_cog(folder / "change-day.tif", day[scene.field_id], transform, crs, -1)
    write_cog(folder / "change-kind.tif", kind[scene.field_id], transform, crs, 0)
    write_cog(folder / "recession-day.tif", recession[scene.field_id], transform, crs, -1)
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
            "recession-day": {
                "href": str((folder / "recession-day.tif").resolve()),
                "title": "Days from the first acquisition to the end of a flood",
                "roles": ["data"],
                "raster:bands": [{"data_type": "int16", "nodata": -1}],
            },
        },
    }
