"""A small sample catalog, served by a real STAC API (rustac) and a real HTTP asset server."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.processes import free_port, start_server, stop_server

from cohcube.pipeline.sample_catalog import SampleCatalog, rebase_asset_hrefs

SUPPORT = Path(__file__).resolve().parents[1] / "support"


@dataclass(frozen=True)
class ServedCatalog:
    """The small sample published over HTTP: STAC API URL and asset base URL."""

    api_url: str
    asset_url: str
    items_file: Path


@pytest.fixture(scope="session")
def served_sample(
    small_sample: SampleCatalog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedCatalog]:
    asset_port, api_port = free_port(), free_port()
    asset_url = f"http://127.0.0.1:{asset_port}"
    folder = tmp_path_factory.mktemp("served")
    items = rebase_asset_hrefs(
        small_sample.items, str(small_sample.root.resolve()), asset_url, folder / "items.json"
    )
    collection = folder / "collection.json"
    shutil.copy(small_sample.collection, collection)
    assets = start_server(
        [sys.executable, str(SUPPORT / "asset_server.py"), str(small_sample.root), str(asset_port)],
        f"{asset_url}/sample.json",
    )
    rustac = Path(sys.executable).with_name("rustac")
    api = None
    try:
        api = start_server(
            [
                str(rustac if rustac.exists() else "rustac"),
                "serve",
                str(collection),
                str(items),
                "--addr",
                f"127.0.0.1:{api_port}",
            ],
            f"http://127.0.0.1:{api_port}/collections",
        )
        yield ServedCatalog(f"http://127.0.0.1:{api_port}", asset_url, items)
    finally:
        if api is not None:
            stop_server(api)
        stop_server(assets)


def scene_ids(items: list) -> list[str]:  # type: ignore[type-arg]
    return [i.id for i in items]


def load_json(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())
