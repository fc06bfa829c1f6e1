"""Reading assets from a flaky HTTP server: transient faults are retried, permanent ones named."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from support.served import served_assets

from cohcube.pipeline.cube import GDAL_HTTP_SETTINGS, build_cube
from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.search import SceneQuery, search_scenes

QUERY = SceneQuery(datetime="2026-03-02/2026-03-15")


@pytest.fixture
def flaky(small_sample: SampleCatalog, tmp_path: Path) -> Iterator[Path]:
    with served_assets(small_sample, tmp_path, "503=3", "reset=5", "truncate=7") as items:
        yield items


def _faults_injected(items: Path) -> dict[str, int]:
    """The faults the asset server serving ``items`` has injected so far."""
    href = next(iter(json.loads(items.read_text())["features"][0]["assets"].values()))["href"]
    parts = urlsplit(href)
    with urllib.request.urlopen(f"{parts.scheme}://{parts.netloc}/__faults") as answer:
        return dict(json.load(answer))


def test_transient_faults_are_retried(small_sample: SampleCatalog, flaky: Path) -> None:
    one_pass = SceneQuery(datetime="2026-03-02/2026-03-03")  # each fault kind hits it often
    local = build_cube(search_scenes(small_sample.items, one_pass), chunk_px=256).values
    remote = build_cube(search_scenes(flaky, one_pass), chunk_px=256).values
    assert set(_faults_injected(flaky)) == {"503", "reset", "truncate"}
    np.testing.assert_array_equal(remote, local)


@pytest.mark.slow  # ~11 s of deliberate stalls
def test_a_stalled_request_times_out_and_is_retried(
    small_sample: SampleCatalog, tmp_path: Path
) -> None:
    local = build_cube(search_scenes(small_sample.items, QUERY), chunk_px=256).values
    # One 20 s stall; GDAL gives up after GDAL_HTTP_TIMEOUT (10 s); the read is retried.
    with served_assets(small_sample, tmp_path, "stall=4", "stall_limit=1") as items:
        started = time.monotonic()
        remote = build_cube(search_scenes(items, QUERY), chunk_px=256).values
        waited = time.monotonic() - started
    np.testing.assert_array_equal(remote, local)
    assert waited >= float(GDAL_HTTP_SETTINGS["GDAL_HTTP_TIMEOUT"])  # the stall really happened


def test_a_missing_asset_is_named(small_sample: SampleCatalog, tmp_path: Path) -> None:
    victim = search_scenes(small_sample.items, QUERY)[0].assets["vv"].href.rsplit("/", 1)[-1]
    with served_assets(small_sample, tmp_path, f"missing={victim}") as items:
        cube = build_cube(search_scenes(items, QUERY), chunk_px=256)
        with pytest.raises(RuntimeError, match=victim):
            cube.compute()


@pytest.mark.slow  # ~16 s of retries with back-off
def test_a_corrupt_asset_fails_after_retries_naming_it(
    small_sample: SampleCatalog, tmp_path: Path
) -> None:
    href = search_scenes(small_sample.items, QUERY)[0].assets["vh"].href
    folder, victim = href.rsplit("/", 2)[-2:]
    with served_assets(small_sample, tmp_path, f"corrupt={folder}/{victim}") as items:
        cube = build_cube(search_scenes(items, QUERY), chunk_px=256)
        with pytest.raises(RuntimeError, match=victim):
            cube.compute()
