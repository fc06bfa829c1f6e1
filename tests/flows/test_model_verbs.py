"""train -> export -> evaluate through the command line, and its error messages."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from support.slc_stacks import OPERA_BURSTS

Run = Callable[..., subprocess.CompletedProcess[str]]

TINY_YAML = """\
seed: 2
network: {width: 4, depth: 2}
data: {scene_px: 64, patch_px: 32, train_scenes: 4, validation_scenes: 2, workers: 1}
optim: {epochs: 2, batch_size: 4}
threads: 1
"""


def test_train_export_evaluate(run_cohcube: Run, tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_YAML)
    run = tmp_path / "run"
    trained = run_cohcube("train", str(config), "--out", str(run), "--no-progress")
    assert "trained 2 epochs" in trained.stdout
    model = tmp_path / "model" / "tiny.pt"
    run_cohcube("export", str(run), "--out", str(model), "--name", "tiny-cli")
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["name"] == "tiny-cli"
    assert card["training"]["command"].startswith("cohcube train")
    report_path = tmp_path / "eval.json"
    evaluated = run_cohcube(
        "evaluate",
        "--model",
        str(model),
        "--test-scenes",
        "2",
        "--json",
        str(report_path),
        "--record",
    )
    report = json.loads(report_path.read_text())
    assert [r["baseline_days"] for r in report["results"]] == [6.0, 12.0, 24.0, 36.0]
    assert "RMSE" in evaluated.stdout
    assert json.loads(model.with_suffix(".json").read_text())["metrics"]["results"]
    alt_path = tmp_path / "alt.json"
    alt = run_cohcube(
        "evaluate",
        "--model",
        str(model),
        "--test-scenes",
        "2",
        "--scenes",
        "alt",
        "--json",
        str(alt_path),
    )
    assert "2 alt test scenes" in alt.stdout
    alt_report = json.loads(alt_path.read_text())
    assert alt_report["scenes"] == "alt"
    # Other ground: other figures than the standard scenes'.
    assert (
        alt_report["results"][1]["model"]["vs_truth"] != report["results"][1]["model"]["vs_truth"]
    )
    kept = run_cohcube(
        "evaluate", "--model", str(model), "--scenes", "alt", "--record", check=False
    )
    assert kept.returncode == 2
    assert "--record stores the standard held-out figures" in kept.stderr
    calibrated = run_cohcube(
        "calibrate", "--model", str(model), "--baseline", "24", "--baseline", "6", "--scenes", "2"
    )
    assert "24 days: sigma x" in calibrated.stdout
    calibration = json.loads(model.with_suffix(".json").read_text())["calibration"]
    assert set(calibration["sigma_factor_by_baseline_days"]) == {"6", "24"}
    assert all(f > 0 for f in calibration["sigma_factor_by_baseline_days"].values())
    assert calibration["baseline_command"].startswith("cohcube calibrate")
    assert set(calibration["coherence_map_by_baseline_days"]) == {"6", "24"}
    assert "coherence 0.2, 0.5, 0.8 -> 0." in calibrated.stdout
    exported_parity = json.loads(model.with_suffix(".json").read_text())["precision_parity"]
    assert set(exported_parity) == {"bf16", "fp16"}  # export measured both against fp32
    measured = run_cohcube(
        "calibrate-device", "--model", str(model), "--scenes", "1", "--tile", "128"
    )
    assert "bf16 vs fp32: max |difference|" in measured.stdout
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["precision_parity"]["bf16"]["scenes"] == 1
    assert card["precision_parity"]["bf16"]["mean_abs_difference"] > 0
    speeds = {t["precision"]: t for t in card["throughput"]}
    assert set(speeds) == {"fp32", "bf16", "fp16"}
    assert all(t["mpx_per_s"] > 0 and t["tile_px"] == 128 for t in speeds.values())
    refused = run_cohcube("calibrate", "--model", str(model), "--baseline=-6", check=False)
    assert refused.returncode == 2
    assert "--baseline must be positive days" in refused.stderr


def test_errors_are_one_clear_line(run_cohcube: Run, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("optim: {epochs: 2, learning_rat: 0.1}\n")
    result = run_cohcube("train", str(config), "--out", str(tmp_path / "run"), check=False)
    assert result.returncode == 2
    assert "optim.learning_rat" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_cohcube("evaluate", "--model", str(tmp_path / "none.json"), check=False)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_fine_tune_on_opera_bursts_then_compare_on_held_out_pairs(
    run_cohcube: Run, tmp_path: Path, tiny_artefact: Path, opera_bursts: Path
) -> None:
    config = tmp_path / "opera.yaml"
    config.write_text(
        f"""\
seed: 5
network: {{width: 4, depth: 2}}
data:
  patch_px: 32
  sources:
    - kind: opera_cslc
      files: ["{opera_bursts}/OPERA_L2_CSLC-S1_*.h5"]
      max_baseline_days: 24
  split: {{by: burst, validation_units: [{OPERA_BURSTS[-2]}], test_units: [{OPERA_BURSTS[-1]}]}}
optim: {{epochs: 3, batch_size: 8, mse_warmup_epochs: 1}}
fine_tune: {{freeze_encoder_levels: 1, learning_rate_factor: 0.2}}
threads: 1
"""
    )
    # Trained and exported in this process (what `cohcube train CONFIG --init ARTEFACT` and
    # `cohcube export` call; their command lines are tested above), scored by the command line.
    from cohcube.model.learning.config import load_training_config
    from cohcube.model.learning.export import export_model
    from cohcube.model.learning.training import train

    settings = load_training_config(config)
    tune = settings.fine_tune.model_copy(update={"init": str(tiny_artefact)})
    run = tmp_path / "run"
    trained = train(settings.model_copy(update={"fine_tune": tune}), run, progress=False)
    assert trained["epochs"] == 3
    tuned = tmp_path / "tuned.pt"
    export_model(sorted((run / "checkpoints").glob("*.pt"))[-1], tuned, name="tiny-tuned")
    card = json.loads(tuned.with_suffix(".json").read_text())["training"]
    assert card["init"] == str(tiny_artefact)
    # The lineage stays with the model: the artefact it started from and how that was trained.
    parent = json.loads(tiny_artefact.with_suffix(".json").read_text())
    assert card["init_sha256"] == parent["artefact"]["sha256"]
    assert card["parent"] == parent["training"]
    (record,) = card["sources"]
    assert record["train"]["units"] == sorted(OPERA_BURSTS[:-2])
    assert record["validation"]["units"] == [OPERA_BURSTS[-2]]
    assert record["test"]["units"] == [OPERA_BURSTS[-1]]
    assert OPERA_BURSTS[-1] in card["data"]
    report_path = tmp_path / "pairs.json"
    evaluated = run_cohcube(
        "evaluate",
        "--pairs",
        str(config),
        "--model",
        str(tiny_artefact),
        "--model",
        str(tuned),
        "--json",
        str(report_path),
    )
    report = json.loads(report_path.read_text())
    assert report["units"] == [OPERA_BURSTS[-1]]
    assert [m["name"] for m in report["models"]] == ["tiny", "tiny-tuned"]
    assert [r["baseline_days"] for r in report["results"]] == [12.0, 24.0]
    for entry in report["results"]:
        before = entry["models"]["tiny"]["vs_target"]["rmse"]
        after = entry["models"]["tiny-tuned"]["vs_target"]["rmse"]
        # Fine-tuning on six bursts lowers the error on the burst it never saw.
        assert after < before - 0.02, entry
        assert entry["pairs"] >= 1
        assert entry["intensity"]["vs_target"]["rmse"] > 0
    assert "tiny-tuned" in evaluated.stdout
    assert "intensity baseline" in evaluated.stdout
