"""Scoring artefacts on held-out real SLC pairs (``cohcube evaluate --pairs CONFIG``).

The pairs are those of a training config's real sources, in its test split
(bursts or ground blocks training never saw). Against the SLC sample
coherence of each pair -- the only reference real data has -- every model and
the intensity-correlation baseline are scored per temporal baseline; the
baseline's window is chosen on the validation split. Calibration is the share
of pixels whose SLC target lies within the model's sigma (the target's own
estimation noise included).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cohcube.model.errors import ConfigError, InputDataError

from .artefact import CoherenceModel
from .config import TrainingConfig
from .data_sources import SimulatorSource
from .evaluation import BASELINE_WINDOWS, baseline_maps, model_maps, scores
from .slc_patches import RealPatches, concatenate_real, split_patches, subset

log = logging.getLogger(__name__)


def held_out_pairs(
    config: TrainingConfig, cache_dir: Path, split: str = "test", progress: bool = True
) -> tuple[RealPatches, RealPatches]:
    """``(scored, validation)`` patches of every real source of ``config``."""
    sources = [s for s in config.data.sources if not isinstance(s, SimulatorSource)]
    if not sources:
        raise ConfigError(
            "evaluate --pairs: the config names no real source (slc_pairs or opera_cslc) in "
            "data.sources"
        )
    scored, validation = [], []
    for source in sources:
        parts = split_patches(
            source, config.data.split, config.data.patch_px, config.seed, cache_dir, progress
        )
        scored.append(parts[split])
        validation.append(parts["validation"])
    held = concatenate_real(scored)
    if not held.units:
        raise ConfigError(
            f"evaluate --pairs: the {split} split holds no patches; name bursts in "
            f"data.split.{split}_units (or raise data.split.{split})"
        )
    return held, concatenate_real(validation)


def _check_channels(model: CoherenceModel, held: RealPatches) -> None:
    channel = {"VV": 0, "VH": 2}
    db = held.patches.backscatter_db
    present = [p for p, k in channel.items() if np.isfinite(db[:, k]).any()]
    for pol in model.contract.polarizations:
        if pol not in present:
            raise InputDataError(
                f"model {model.name} needs {pol} but the pairs hold {'+'.join(present)} only: "
                f"read {pol} in the source's polarizations or score a model of "
                f"{'+'.join(present)}"
            )


def evaluate_pairs(
    models: Sequence[CoherenceModel],
    config: TrainingConfig,
    cache_dir: Path,
    *,
    split: str = "test",
    progress: bool = True,
) -> dict[str, Any]:
    """Per-baseline scores of ``models`` and the intensity baseline on held-out real pairs."""
    held, validation = held_out_pairs(config, cache_dir, split, progress)
    for model in models:
        _check_channels(model, held)
    if validation.units:
        rmse = {
            w: scores(baseline_maps(validation.patches, w), validation.patches.target)["rmse"]
            for w in BASELINE_WINDOWS
        }
        window = min(rmse, key=lambda w: rmse[w])
    else:
        rmse, window = {}, 7
        log.warning("no validation patches to choose the intensity window; using %d px", window)
    results = []
    for days in sorted({float(b) for b in held.baseline_days}):
        part = subset(held, held.baseline_days == days)
        target = part.patches.target
        entry: dict[str, Any] = {
            "baseline_days": days,
            "pairs": len(part.pairs),
            "patches": len(part.units),
            "pixels": int(np.isfinite(target).sum()),
            "intensity": {"vs_target": scores(baseline_maps(part.patches, window), target)},
            "models": {},
        }
        for model in models:
            coherence, sigma = model_maps(model, part.patches, days)
            valid = np.isfinite(target) & np.isfinite(coherence)
            has_sigma = bool(np.isfinite(sigma[valid]).any())
            inside = np.abs(target - coherence)[valid] <= sigma[valid]
            entry["models"][model.name] = {
                "sha256": model.sha256,
                "vs_target": scores(coherence, target),
                "calibration_1sigma": float(inside.mean()) if has_sigma else None,
            }
        results.append(entry)
    return {
        "reference": "SLC sample coherence of each held-out pair",
        "split": split,
        "units": sorted(set(held.units)),
        "pairs": [vars(p) for p in held.pairs],
        "models": [{"name": m.name, "sha256": m.sha256} for m in models],
        "intensity_window_px": window,
        "intensity_window_validation_rmse": {str(k): v for k, v in rmse.items()},
        "results": results,
    }


def format_pair_report(report: dict[str, Any]) -> str:
    """The report as a plain-text table: one row per baseline and estimator."""
    names = [m["name"] for m in report["models"]]
    lines = [
        f"{len(report['pairs'])} held-out pairs ({report['split']} split: "
        f"{', '.join(report['units'])}), reference: {report['reference']}; intensity window "
        f"{report['intensity_window_px']} px",
        "",
        f"{'days':>5} {'estimator':<28} {'RMSE':>6} {'MAE':>6} {'bias':>7} {'R2':>6} "
        f"{'ratio':>6} {'<=sigma':>8}",
    ]
    for entry in report["results"]:
        base = entry["intensity"]["vs_target"]
        rows = [(name, entry["models"][name]) for name in names]
        for name, found in [*rows, ("intensity baseline", {"vs_target": base})]:
            s = found["vs_target"]
            cover = found.get("calibration_1sigma")
            lines.append(
                f"{entry['baseline_days']:>5g} {name[:28]:<28} {s['rmse']:>6.3f} {s['mae']:>6.3f} "
                f"{s['bias']:>+7.3f} {s['r2']:>6.3f} {s['rmse'] / base['rmse']:>6.2f} "
                f"{'n/a' if cover is None else f'{100 * cover:.1f}%':>8}"
            )
    return "\n".join(lines)
