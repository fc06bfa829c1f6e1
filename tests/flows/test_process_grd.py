"""`cohcube process` on Level-1 GRD collections: a real STAC API (rustac) and HTTP assets.

The sample's acquisitions as GRD products (uint16 DNs + GCPs + real-layout XMLs)
behind Earth Search-, Planetary Computer- and CDSE-shaped items: shortened
names, the RFI trap in ``schema-product-*``, the fake EPSG:4326 ``proj:*``,
``safe_manifest``, ``product:type``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.process_jobs import job_settings, pairs_in_store, write_config
from support.served import served_assets, stac_api

from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.store.tile_set import open_tile, tile_ids

Run = Callable[..., subprocess.CompletedProcess[str]]


def planetary_computer_shaped(feature: dict[str, Any]) -> dict[str, Any]:
    """Planetary Computer's GRD items: upper-case platform, no proj:*, no raster:bands."""
    properties = feature["properties"]
    properties["platform"] = properties["platform"].upper()
    for key in [k for k in properties if k.startswith("proj:")]:
        del properties[key]
    for asset in feature["assets"].values():
        asset.pop("raster:bands", None)
    return feature


def cdse_shaped(feature: dict[str, Any]) -> dict[str, Any]:
    """CDSE's: product:type instead of sar:product_type, safe_manifest, no schema-product."""
    properties = feature["properties"]
    del properties["sar:product_type"]
    properties["product:type"] = "IW_GRDH_1S"
    assets = feature["assets"]
    assets["safe_manifest"] = assets.pop("safe-manifest")
    for pol in ("vv", "vh"):  # measurement keys in upper case
        assets[pol.upper()] = assets.pop(pol)
    for key in [k for k in assets if k.startswith("schema-product-")]:
        del assets[key]
    return feature


def first_passes(
    items: Path, acquisitions: int, out: Path, shape: Callable[..., Any] | None = None
) -> Path:
    """The items of the first ``acquisitions`` passes of ``items``, reshaped by ``shape``."""
    document = json.loads(items.read_text())
    days = sorted({f["properties"]["datetime"][:10] for f in document["features"]})[:acquisitions]
    document["features"] = [
        shape(f) if shape else f
        for f in document["features"]
        if f["properties"]["datetime"][:10] in days
    ]
    out.write_text(json.dumps(document))
    return out


def test_process_earth_search_shaped_grd_and_rerun_adds_nothing(
    run_cohcube: Run, small_grd_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    collection = tmp_path / "collection.json"
    shutil.copy(small_grd_sample.collection, collection)
    store = tmp_path / "grd.zarr"
    with served_assets(small_grd_sample, tmp_path) as served:
        items = first_passes(served, 4, tmp_path / "four.json")
        with stac_api(collection, items) as api:
            settings = job_settings(small_grd_sample, items, store, tiny_artefact)
            settings |= {"catalog": api, "collection": "sentinel-1-grd"}
            config = write_config(tmp_path / "job.yaml", **settings)
            first = run_cohcube("process", str(config), "--json", str(tmp_path / "r1.json"))
            report = json.loads((tmp_path / "r1.json").read_text())
            assert report["pairs_added"] > 0, first.stdout + first.stderr
            held = pairs_in_store(store)
            assert held
            assert all(
                len(p) == 2 for p in held.values()
            )  # 4 passes 6 days apart: two 12-day pairs
            assert "trained on gamma0 but the cube holds sigma0" in first.stderr

            second = run_cohcube("process", str(config), "--json", str(tmp_path / "r2.json"))
            assert json.loads((tmp_path / "r2.json").read_text())["pairs_added"] == 0
            assert pairs_in_store(store) == held, second.stdout

    tiles = [open_tile(store, t) for t in sorted(tile_ids(str(store)))]
    assert {t.attrs["input_quantity"] for t in tiles} == {"sigma0"}
    # Together the tiles hold the sample's 512 x 512 px map for both pairs, and nothing more:
    # the radar rasters' margins outside the map are nodata (DN 0).
    finite = sum(int(np.isfinite(t["coherence"].values).sum()) for t in tiles)
    assert 0.97 < finite / (2 * 512 * 512) <= 1.0
    values = np.concatenate([t["coherence"].values.ravel() for t in tiles])
    assert np.nanmin(values) >= 0
    assert np.nanmax(values) <= 1


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(planetary_computer_shaped, id="pc", marks=pytest.mark.slow),
        # The Earth Search-shaped job above runs in CI; these shapes' parsing is tested in
        # tests/pipeline/grd.
        pytest.param(cdse_shaped, id="cdse", marks=pytest.mark.slow),
    ],
)
def test_process_other_catalog_shapes(
    run_cohcube: Run,
    small_grd_sample: SampleCatalog,
    tiny_artefact: Path,
    tmp_path: Path,
    shape: Callable[..., Any],
) -> None:
    collection = tmp_path / "collection.json"
    shutil.copy(small_grd_sample.collection, collection)
    store = tmp_path / "grd.zarr"
    with served_assets(small_grd_sample, tmp_path) as served:
        items = first_passes(served, 3, tmp_path / "three.json", shape)
        with stac_api(collection, items) as api:
            settings = job_settings(small_grd_sample, items, store, tiny_artefact)
            settings |= {"catalog": api, "collection": "sentinel-1-grd"}
            config = write_config(tmp_path / "job.yaml", **settings)
            run_cohcube("process", str(config), "--json", str(tmp_path / "r1.json"))
            assert json.loads((tmp_path / "r1.json").read_text())["pairs_added"] > 0
            held = pairs_in_store(store)
            assert all(len(p) == 1 for p in held.values())  # 3 passes: one 12-day pair
            run_cohcube("process", str(config), "--json", str(tmp_path / "r2.json"))
            assert json.loads((tmp_path / "r2.json").read_text())["pairs_added"] == 0
            assert pairs_in_store(store) == held


def test_a_corrupt_calibration_stops_the_job_in_one_line(
    run_cohcube: Run, small_grd_sample: SampleCatalog, tiny_artefact: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "catalog"
    shutil.copytree(small_grd_sample.root / "sentinel-1-grd", copy / "sentinel-1-grd")
    document = small_grd_sample.items.read_text().replace(
        str(small_grd_sample.root.resolve()), str(copy.resolve())
    )
    (copy / "sentinel-1-grd" / "items.json").write_text(document)
    items = first_passes(copy / "sentinel-1-grd" / "items.json", 3, tmp_path / "three.json")
    first = json.loads(items.read_text())["features"][0]
    calibration = Path(first["assets"]["schema-calibration-vv"]["href"])
    calibration.write_bytes(calibration.read_bytes()[:2000])  # cut short
    store = tmp_path / "grd.zarr"
    settings = job_settings(small_grd_sample, items, store, tiny_artefact)
    settings |= {"collection": "sentinel-1-grd"}
    config = write_config(tmp_path / "job.yaml", **settings)
    result = run_cohcube("process", str(config), check=False)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "calibration-iw-vv.xml is not well-formed XML" in last
    assert "Traceback" not in result.stderr
    # Every scene's documents are checked before anything is written: no store at all.
    assert not store.exists()
