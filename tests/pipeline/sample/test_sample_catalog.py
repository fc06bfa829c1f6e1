"""The embedded sample catalog: layout, determinism, truth and change maps."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from cohcube.pipeline.sample import (
    SampleCatalog,
    SampleSpec,
    default_sample_catalog,
    write_sample_catalog,
)
from cohcube.pipeline.search import read_local_items

TINY = SampleSpec(
    size_px=128, block_px=64, workers=1, acquisitions_per_platform=3, slice_overlap_px=16
)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.tif"))
    }


def test_spec_schedule() -> None:
    days = SampleSpec().acquisition_days()
    assert len(days) == 14
    assert [d for d, _ in days] == [6.0 * k for k in range(14)]
    assert {p for _, p in days[::2]} == {"SENTINEL-1A"}
    assert {p for _, p in days[1::2]} == {"SENTINEL-1C"}


def test_layout_and_items(small_sample: SampleCatalog) -> None:
    manifest = json.loads(small_sample.manifest.read_text())
    assert manifest["acquisitions"] == 14
    assert manifest["scene_items"] == 28
    items = read_local_items(small_sample.items)
    item = items[0]
    assert set(item.assets) == {"vv", "vh"}
    assert item.properties["sar:polarizations"] == ["VV", "VH"]
    assert item.properties["sat:relative_orbit"] == 73
    assert item.id.endswith("_rtc")
    with rasterio.open(item.assets["vv"].href) as src:
        assert src.crs.to_epsg() == 32633
        assert src.res == (10.0, 10.0)
        assert src.dtypes[0] == "float32"
        assert src.nodata == -32768
        assert src.profile["blockxsize"] == 512 or src.width < 512
        data = src.read(1)
    assert (data > 0).all()
    median_db = 10 * np.log10(np.median(data))
    assert -20 < median_db < 0  # plausible gamma0


def test_truth_collection(small_sample: SampleCatalog) -> None:
    truth = read_local_items(small_sample.truth_items)
    pairs = [i for i in truth if i.id != "changes"]
    baselines = sorted(i.properties["cohcube:temporal_baseline_days"] for i in pairs)
    assert baselines.count(6.0) == 13
    assert baselines.count(12.0) == 12
    assert baselines.count(24.0) == 10
    with rasterio.open(pairs[0].assets["coherence-vv"].href) as src:
        coherence = src.read(1) * 0.004
    assert coherence.min() >= 0
    assert coherence.max() <= 1
    assert coherence.std() > 0.1  # stable towns and incoherent water both present
    changes = next(i for i in truth if i.id == "changes")
    assert changes.properties["cohcube:events"] > 0
    with rasterio.open(changes.assets["change-day"].href) as src:
        day = src.read(1)
    changed = day >= 0
    assert 0.02 < changed.mean() < 0.6
    assert day[changed].max() <= 78


def test_generation_is_deterministic_and_atomic(tmp_path: Path) -> None:
    first = write_sample_catalog(tmp_path / "a", TINY)
    second = write_sample_catalog(tmp_path / "b", TINY)
    assert _digest(first.root) == _digest(second.root)
    with pytest.raises(FileExistsError, match="not empty"):
        write_sample_catalog(tmp_path / "a", TINY)
    cached = default_sample_catalog(TINY, cache_dir=tmp_path / "cache")
    assert cached.exists()
    assert default_sample_catalog(TINY, cache_dir=tmp_path / "cache") == cached
    assert str(tmp_path / "cache") in read_local_items(cached)[0].assets["vv"].href
    assert not list((tmp_path / "cache").glob(".sample-*"))  # no staging left behind


@pytest.mark.slow
def test_default_sample_is_what_search_finds_without_a_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cohcube.pipeline.search import SceneQuery, search_scenes

    monkeypatch.setenv("COHCUBE_CACHE_DIR", str(tmp_path))
    scenes = search_scenes(None, SceneQuery())
    assert len(scenes) == 28
    with rasterio.open(scenes[0].assets["vv"].href) as src:
        assert src.width >= 2048
    manifest = json.loads(SampleCatalog(default_sample_catalog().parents[1]).manifest.read_text())
    assert manifest["spec"]["size_px"] == 2048
