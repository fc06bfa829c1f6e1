"""A small sample catalog, served by a real STAC API (rustac) and a real HTTP asset server."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.served import ServedCatalog, served_assets, stac_api

from cohcube.pipeline.sample import SampleCatalog


@pytest.fixture(scope="session")
def served_sample(
    small_sample: SampleCatalog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedCatalog]:
    folder = tmp_path_factory.mktemp("served")
    collection = folder / "collection.json"
    shutil.copy(small_sample.collection, collection)
    with served_assets(small_sample, folder) as items, stac_api(collection, items) as api_url:
        yield ServedCatalog(api_url, items)


def scene_ids(items: list) -> list[str]:  # type: ignore[type-arg]
    return [i.id for i in items]


def load_json(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())
