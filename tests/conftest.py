"""A tiny trained and exported model shared by the model tests (seconds to train)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohcube.model.config import TrainingConfig

TINY = {
    "seed": 5,
    "network": {"width": 4, "depth": 2},
    "data": {
        "scene_px": 64,
        "patch_px": 32,
        "train_scenes": 6,
        "validation_scenes": 2,
        "workers": 1,
    },
    "optim": {"epochs": 3, "batch_size": 4, "mse_warmup_epochs": 1},
    "threads": 1,
}


@pytest.fixture(scope="session")
def tiny_config() -> TrainingConfig:
    return TrainingConfig.model_validate(TINY)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_config: TrainingConfig) -> Path:
    from cohcube.model.training import train

    out = tmp_path_factory.mktemp("tiny-run")
    train(tiny_config, out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_artefact(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cohcube.model.export import export_model

    out = tmp_path_factory.mktemp("tiny-model") / "tiny.pt"
    export_model(sorted((tiny_run / "checkpoints").glob("*.pt"))[-1], out, name="tiny")
    return out
