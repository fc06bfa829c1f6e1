"""Reading assets from a flaky HTTP server: transient faults are retried, permanent ones named."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import SUPPORT
from support.processes import free_port, start_server, stop_server

from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.sample_catalog import SampleCatalog, rebase_asset_hrefs
from cohcube.pipeline.search import SceneQuery, search_scenes

QUERY = SceneQuery(datetime="2026-03-02/2026-03-15")


def _serve(sample: SampleCatalog, folder: Path, *faults: str) -> Iterator[Path]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    items = rebase_asset_hrefs(sample.items, str(sample.root.resolve()), url, folder / "items.json")
    server = start_server(
        [sys.executable, str(SUPPORT / "asset_server.py"), str(sample.root), str(port), *faults],
        f"{url}/sample.json",
    )
    try:
        yield items
    finally:
        stop_server(server)


@pytest.fixture
def flaky(small_sample: SampleCatalog, tmp_path: Path) -> Iterator[Path]:
    yield from _serve(small_sample, tmp_path, "503=3", "reset=5", "truncate=7")


def test_transient_faults_are_retried(small_sample: SampleCatalog, flaky: Path) -> None:
    local = build_cube(search_scenes(small_sample.items, QUERY), chunk_px=256).values
    remote = build_cube(search_scenes(flaky, QUERY), chunk_px=256).values
    np.testing.assert_array_equal(remote, local)


def test_a_missing_asset_is_named(small_sample: SampleCatalog, tmp_path: Path) -> None:
    victim = search_scenes(small_sample.items, QUERY)[0].assets["vv"].href.rsplit("/", 1)[-1]
    for items in _serve(small_sample, tmp_path, f"missing={victim}"):
        cube = build_cube(search_scenes(items, QUERY), chunk_px=256)
        with pytest.raises(RuntimeError, match=victim):
            cube.compute()
