"""Job configs and store views shared by the `cohcube process` tests."""

from __future__ import annotations

import json
from pathlib import Path

import xarray as xr
import yaml

from cohcube.pipeline.grid import CubeGrid
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


def whole_area_coherence(
    items: Path, tiles: list[str], store: Path, model: Path, tile_px: int
) -> xr.Dataset:
    """The coherence of every pair the store holds, inferred over the union of ``tiles`` at
    once (one cube, its own chunking, the model's halo of ground around it): what a
    seam-free tile set must equal."""
    from cohcube.flows.job_steps import choose_model
    from cohcube.pipeline.cube import build_cube
    from cohcube.pipeline.inference import predict_coherence
    from cohcube.pipeline.pairs import select_pairs
    from cohcube.pipeline.search import read_local_items

    chosen = choose_model(model)
    grids = [open_tile(store, t).rio for t in tiles]
    left = min(g.bounds()[0] for g in grids)
    bottom = min(g.bounds()[1] for g in grids)
    right = max(g.bounds()[2] for g in grids)
    top = max(g.bounds()[3] for g in grids)
    epsg = int(grids[0].crs.to_epsg())
    margin = chosen.halo_px
    grid = CubeGrid(epsg, 10.0, (left, bottom, right, top)).expanded(margin)
    cube = build_cube(
        read_local_items(items),
        ("vv", "vh"),
        grid=grid,
        chunk_px=3 * tile_px // 2,
        margin_px=margin,
        size_multiple=chosen.size_multiple,
    )
    held = sorted({str(p) for t in tiles for p in open_tile(store, t)["pair"].values})
    pairs = select_pairs(cube, (12,))
    pairs = pairs[pairs["pair_id"].isin(held)].reset_index(drop=True)
    # At the precision the job ran at (`auto` picks bf16 on CPUs with native bf16).
    precision = str(open_tile(store, tiles[0]).attrs["inference_precision"])
    lazy = predict_coherence(cube, pairs, model, margin_px=margin, precision=precision)
    return lazy.compute(scheduler="threads")
