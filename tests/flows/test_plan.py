"""`cohcube plan`: what a job would do, with nothing computed and nothing written."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from support.process_jobs import items_until, job_settings, write_config

from cohcube.flows.plan import forward_pixels_per_pair
from cohcube.model.learning.card import card_path_for, read_card
from cohcube.pipeline.pairs import acquisitions_of, select_pairs
from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.search import read_local_items

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_forward_pixels_count_every_region_with_its_halo() -> None:
    assert forward_pixels_per_pair(2048, 2048, 96) == 2240**2
    assert forward_pixels_per_pair(4096, 2048, 96) == 4 * 2240**2
    assert forward_pixels_per_pair(512, 2048, 0) == 512**2


def test_plan_says_what_process_would_do(
    run_cohcube: Run, small_sample: SampleCatalog, tmp_path: Path
) -> None:
    items = items_until(small_sample, 6, tmp_path / "items.json")
    store = tmp_path / "cube.zarr"
    shipped = card_path_for(None)
    settings = job_settings(small_sample, items, store, shipped)
    config = write_config(tmp_path / "job.yaml", **settings)

    result = run_cohcube("plan", str(config), "--workers", "3", "--json", str(tmp_path / "p.json"))
    plan = json.loads((tmp_path / "p.json").read_text())
    assert not store.exists()  # nothing written
    scenes = read_local_items(items)
    per_tile = len(select_pairs(acquisitions_of(scenes), (12,)))
    assert per_tile == 4
    assert plan["tiles_touched"] == 4
    assert [t["pairs_new"] for t in plan["tiles"]] == [per_tile] * 4
    assert plan["pairs_held"] == 0
    assert plan["tracks"] == {"73 ascending": {"scenes": len(scenes), "acquisitions": 6}}
    assert plan["halo_px"] == 96
    assert plan["forward_mpx"] == 16 * forward_pixels_per_pair(512, 512, 96) / 1e6
    assert plan["store_bytes_uncompressed"] == 16 * 512 * 512 * 8
    card = read_card(shipped)
    assert len(plan["estimates"]) == len(card.throughput or [])
    for estimate, record in zip(plan["estimates"], card.throughput or [], strict=True):
        assert estimate["workers"] == 3
        rate = record.mpx_per_s * 3
        assert abs(estimate["hours"] - plan["forward_mpx"] / rate / 3600) < 1e-9
    assert "pairs: 0 held, 16 new" in result.stdout
    assert "nothing computed, nothing written" in result.stdout
