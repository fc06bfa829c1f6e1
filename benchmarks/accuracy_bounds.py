"""How close can any estimator get to the true coherence? Field-level oracle bounds.

    python benchmarks/accuracy_bounds.py [--days 12] [--train-scenes 1000] [--json FILE]

Simulates the test scenes ``cohcube evaluate`` scores the shipped model on
(same data settings, seed and split, from the shipped card) and a training
split, then fits the best field-level estimator for each information set of
``cohcube.model.analysis.coherence_bounds`` and prints its RMSE against the true
coherence next to the shipped network's (from the card's metrics) and the
model issue's 0.08 target. See docs/accuracy.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cohcube.model.analysis.coherence_bounds import (
    INFORMATION_SETS,
    exact_temporal,
    fit_conditional_mean,
    oracle_rmse,
    simulate_field_tables,
)
from cohcube.model.learning.card import read_card

DESCRIPTIONS = {
    "none": "thermal term only (no field information)",
    "backscatter": "+ noise-free field sigma0 VV/VH, both dates",
    "backscatter+speckle": "+ field speckle statistics, exact misregistration",
    "class": "class at t1 (exact)",
    "labels": "class at t1 and t2, changed (exact)",
    "labels+speckle": "labels + field speckle statistics",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, nargs="+", default=[12.0])
    parser.add_argument("--train-scenes", type=int, default=1000)
    parser.add_argument("--test-scenes", type=int, default=40)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    card = read_card(None)  # the shipped model: its training settings and scores
    assert card.training is not None
    trained = card.training.config
    network = {
        r["baseline_days"]: r["model"]["vs_truth"]["rmse"]
        for r in (card.metrics or {}).get("results", [])
    }
    results: list[dict[str, object]] = []
    for days in args.days:
        start = time.perf_counter()
        train = simulate_field_tables(trained.data, "train", args.train_scenes, trained.seed, days)
        test = simulate_field_tables(trained.data, "test", args.test_scenes, trained.seed, days)
        fields = sum(len(t.temporal) for t in train)
        print(
            f"\n{days:g}-day pairs: {fields} training fields from {args.train_scenes} scenes, "
            f"{args.test_scenes} test scenes ({time.perf_counter() - start:.0f} s to simulate)"
        )
        print(f"{'information given to the estimator':<70} {'RMSE vs truth':>13}")
        rows = {"exact temporal term (sanity check)": oracle_rmse(test, exact_temporal)}
        for name in INFORMATION_SETS:
            predictor = fit_conditional_mean(train, name, seed=trained.seed)
            rows[f"{name}: {DESCRIPTIONS[name]}"] = oracle_rmse(test, predictor)
        for label, rmse in rows.items():
            print(f"{label:<70} {rmse:>13.3f}")
        if days in network:
            print(
                f"{'shipped network (cohcube evaluate, from its card)':<70} {network[days]:>13.3f}"
            )
        results.append({"baseline_days": days, "rmse_vs_truth": rows, "network": network.get(days)})
    if args.json is not None:
        report = {
            "model": card.name,
            "seed": trained.seed,
            "train_scenes": args.train_scenes,
            "test_scenes": args.test_scenes,
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
