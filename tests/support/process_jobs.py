"""Job configs and store views shared by the `cohcube process` tests."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.store.tile_set import open_tile, tile_ids


def items_until(sample: SampleCatalog, acquisitions: int, out: Path) -> Path:
    """An ItemCollection holding the first ``acquisitions`` passes of the sample."""
    document = json.loads(sample.items.read_text())
    days = sorted({f["properties"]["datetime"][:10] for f in document["features"]})
    keep = set(days[:acquisitions])  # one pass a day; its slices share the date
    document["features"] = [
        f for f in document["features"] if f["properties"]["datetime"][:10] in keep
    ]
    out.write_text(json.dumps(document))
    return out


def write_config(path: Path, **settings: object) -> Path:
    path.write_text(yaml.safe_dump(settings))
    return path


def job_settings(
    sample: SampleCatalog, items: str | Path, store: Path, model: Path
) -> dict[str, object]:
    return {
        "region": {
            "bbox": json.loads(sample.collection.read_text())["extent"]["spatial"]["bbox"][0]
        },
        "catalog": str(items),
        "polarizations": ["VV", "VH"],
        "pairs": {"policy": "fixed", "baselines_days": [12]},
        "grid": {"tile_px": 512},
        "output": {"store": str(store)},
        "cluster": {"address": "local", "workers": 2},
        "model": str(model),
    }


def pairs_in_store(store: Path) -> dict[str, list[str]]:
    return {
        t: sorted(str(p) for p in open_tile(store, t)["pair"].values) for t in tile_ids(str(store))
    }
