"""Change detection's operating curve on the demo sample: events found vs false alarms.

    cohcube demo --out cohcube-demo
    python benchmarks/change_curve.py --cube cohcube-demo/coherence.zarr [--thresholds 4 5 6]
        [--history all] [--json FILE]

For each ``z_threshold``, runs ``detect_changes`` on the demo's coherence cube
with the sample's observed backscatter, and (the ceiling) on the simulator's
true coherence with its noise-free backscatter, and scores both against the
sample's events (``score_changes``): share of events found, per kind, false
alarms, median event span. The default sample is the demo's. See
docs/accuracy.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import dask
import numpy as np
from common import cpu_description

from cohcube.flows.changes_job import cube_grid
from cohcube.pipeline.changes import detect_changes
from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.sample import (
    SampleCatalog,
    SampleSpec,
    default_sample_catalog,
    read_change_truth,
    score_changes,
    true_backscatter,
    truth_for_pairs,
)
from cohcube.pipeline.search import SceneQuery, search_scenes
from cohcube.pipeline.store.zarr_cube import open_coherence_cube


def _row(score: dict[str, Any]) -> dict[str, Any]:
    return {
        "found": round(score["detection_rate"], 3),
        "dated_at_peak": round(score["dated_at_peak_rate"], 3),
        "false_alarms": round(score["false_alarm_rate"], 4),
        "median_span_days": score["median_event_span_days"],
        "by_kind": {k: v["rate"] for k, v in score["detection_by_kind"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cube", type=Path, required=True, help="the demo's coherence.zarr")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[4.0, 4.5, 5.0, 5.5, 6.0])
    parser.add_argument("--history", default="all", choices=["all", "past"])
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()

    catalog = SampleCatalog(default_sample_catalog(SampleSpec()).parents[1])
    scenes = search_scenes(catalog.items, SceneQuery(collection=catalog.collection_id))
    cube = open_coherence_cube(args.cube)
    backscatter = build_cube(scenes, ("vv", "vh"), grid=cube_grid(cube), size_multiple=1)
    truth = read_change_truth(catalog)
    maps = truth_for_pairs(catalog, cube["reference_time"].values, cube["secondary_time"].values)
    if any(m is None for m in maps):
        raise SystemExit(
            f"{args.cube}: some pairs have no truth in the sample; use the demo's cube"
        )
    true_cube = cube[["coherence"]].assign(
        coherence=(("pair", "y", "x"), np.stack([m for m in maps if m is not None]))
    )
    print(f"{cpu_description()}; {cube.sizes['pair']} pairs", flush=True)
    rows = []
    with dask.config.set(scheduler="threads"):
        observed = backscatter.compute()  # read once, scored at every threshold
        ceiling_backscatter = true_backscatter(catalog)
        for threshold in args.thresholds:
            start = time.perf_counter()
            model = detect_changes(cube, observed, z_threshold=threshold, history=args.history)
            ceiling = detect_changes(
                true_cube, ceiling_backscatter, z_threshold=threshold, history=args.history
            )
            row = {
                "z_threshold": threshold,
                "model": _row(score_changes(model.compute(), truth)),
                "ceiling": _row(score_changes(ceiling.compute(), truth)),
                "seconds": round(time.perf_counter() - start, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
