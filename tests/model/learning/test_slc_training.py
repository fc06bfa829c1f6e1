"""Training on real-layout SLC sources: mixing, resume, splits, and what a config may not ask."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support.slc_stacks import OPERA_BURSTS

from cohcube.model.errors import ConfigError, ModelArtefactError
from cohcube.model.learning.config import TrainingConfig
from cohcube.model.learning.data_sources import OperaCslcSource, SplitConfig
from cohcube.model.learning.fine_tuning import initial_weights
from cohcube.model.learning.slc_patches import assign_splits, source_patches
from cohcube.model.learning.training import train
from cohcube.model.learning.training_sets import epoch_order, training_sets, validation_patches


def _config(opera_bursts: Path, **update: object) -> TrainingConfig:
    """A tiny network on three bursts (two train, one validation) plus the simulator."""
    files = [str(opera_bursts / f"*{b.upper().replace('_', '-')}*.h5") for b in OPERA_BURSTS[:3]]
    settings: dict[str, object] = {
        "seed": 5,
        "network": {"width": 4, "depth": 2},
        "data": {
            "scene_px": 64,
            "patch_px": 32,
            "train_scenes": 2,
            "validation_scenes": 1,
            "workers": 1,
            "sources": [
                {"kind": "simulator", "weight": 1.0},
                {"kind": "opera_cslc", "files": files, "weight": 3.0},
            ],
            "split": {"validation_units": [OPERA_BURSTS[2]]},
        },
        "optim": {"epochs": 2, "batch_size": 8, "mse_warmup_epochs": 1},
        "threads": 1,
    }
    settings.update(update)
    return TrainingConfig.model_validate(settings)


def _opera_only(opera_bursts: Path, **data: object) -> TrainingConfig:
    """The tiny network on every burst of the OPERA stack alone, with ``data`` settings."""
    sources = [{"kind": "opera_cslc", "files": [str(opera_bursts / "*.h5")]}]
    return _config(opera_bursts, data={"patch_px": 32, "sources": sources, **data})


# Slow (~10 s); the default run keeps test_training.py's resume test of the same loop.
@pytest.mark.slow
def test_mixed_sources_resume_on_the_uninterrupted_loss_curve(
    tmp_path: Path, opera_bursts: Path, tiny_artefact: Path
) -> None:
    config = _config(
        opera_bursts, fine_tune={"init": str(tiny_artefact), "freeze_encoder_levels": 1}
    )
    cache = tmp_path / "cache"
    whole = train(config, tmp_path / "whole", cache_dir=cache, progress=False)
    interrupted = tmp_path / "interrupted"
    train(config, interrupted, cache_dir=cache, progress=False, stop_after_epoch=1)
    # Resumed without --init: the run keeps the artefact and frozen levels it started with.
    plain = config.model_copy(
        update={"fine_tune": config.fine_tune.model_copy(update={"init": None})}
    )
    resumed = train(plain, interrupted, cache_dir=cache, progress=False, resume=True)
    assert len(resumed["history"]) == len(whole["history"]) == 2
    for got, want in zip(resumed["history"], whole["history"], strict=True):
        for key in ("train_loss", "val_rmse_target", "val_nll"):
            assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), key
    # The first encoder level never moved from the artefact's weights.
    saved = torch.load(sorted((interrupted / "checkpoints").glob("*.pt"))[-1], weights_only=True)
    start = initial_weights(tiny_artefact, config)
    frozen = [k for k in start if k.startswith("encoder.0.") and "running" not in k]
    assert frozen
    for key in frozen:
        assert torch.equal(saved["model"][key], start[key]), key
    assert any(not torch.equal(saved["model"][k], start[k]) for k in start if "encoder.1." in k)
    history = json.loads((interrupted / "history.json").read_text())
    assert all(h["val_rmse_truth"] is not None for h in history)  # simulator validation scenes


def test_sources_are_drawn_by_weight_and_splits_keep_bursts_whole(
    tmp_path: Path, opera_bursts: Path
) -> None:
    config = _config(opera_bursts)
    sets = training_sets(config, tmp_path, progress=False)
    counts = np.bincount(sets.train_source)
    order = epoch_order(sets.train_source, sets.weights, torch.Generator().manual_seed(1))
    drawn = np.bincount(sets.train_source[order.numpy()], minlength=2)
    assert order.numel() == counts.sum()
    assert drawn[1] / drawn.sum() == pytest.approx(0.75, abs=0.01)  # weights 1 : 3
    assert sets.description[1]["validation"]["units"] == [OPERA_BURSTS[2]]
    assert sets.description[1]["train"]["units"] == sorted(OPERA_BURSTS[:2])
    # What export calibrates on: the same validation patches, without the training ones.
    validation = validation_patches(config, tmp_path)
    np.testing.assert_array_equal(validation.backscatter_db, sets.validation.backscatter_db)
    np.testing.assert_array_equal(validation.target, sets.validation.target)
    # By area: every date of one ground block lands in one split.
    source = config.data.sources[1]
    assert isinstance(source, OperaCslcSource)
    real = source_patches(source, 32, 5, tmp_path, progress=False)
    by_area = assign_splits(real, SplitConfig(by="area", block_m=640.0, validation=0.3, test=0.3))
    blocks: dict[tuple[int, int], set[int]] = {}
    for (x, y), split in zip(real.centres, by_area, strict=True):
        blocks.setdefault((int(x // 640), int(y // 640)), set()).add(int(split))
    assert all(len(s) == 1 for s in blocks.values())
    assert set(by_area.tolist()) == {0, 1, 2}


def test_what_real_data_cannot_do_is_refused(
    tmp_path: Path, opera_bursts: Path, tiny_artefact: Path
) -> None:
    with pytest.raises(ConfigError, match="true_coherence needs simulated data"):
        training_sets(
            _opera_only(
                opera_bursts,
                target="true_coherence",
                split={"validation_units": [OPERA_BURSTS[0]]},
            ),
            tmp_path,
            progress=False,
        )
    wider = _config(opera_bursts, network={"width": 8, "depth": 2})
    with pytest.raises(ModelArtefactError, match=r"network.width 4 and depth 2 \(config: 8, 2\)"):
        initial_weights(tiny_artefact, wider)
    with pytest.raises(ConfigError, match="no validation patches"):
        training_sets(
            _opera_only(opera_bursts, split={"test_units": [OPERA_BURSTS[0]]}),
            tmp_path,
            progress=False,
        )
