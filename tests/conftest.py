"""Session fixtures: a tiny trained, exported model (seconds to train) and a small sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohcube.model.learning.config import TrainingConfig
from cohcube.pipeline.sample import SampleCatalog, SampleSpec, write_sample_catalog

#: The default sample's time structure on a smaller region (fast to simulate).
SMALL_SPEC = SampleSpec(size_px=512, block_px=256, workers=1, slice_overlap_px=32)

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
    from cohcube.model.learning.training import train

    out = tmp_path_factory.mktemp("tiny-run")
    train(tiny_config, out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_artefact(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cohcube.model.learning.export import export_model

    out = tmp_path_factory.mktemp("tiny-model") / "tiny.pt"
    export_model(sorted((tiny_run / "checkpoints").glob("*.pt"))[-1], out, name="tiny")
    return out


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleCatalog:
    return write_sample_catalog(tmp_path_factory.mktemp("sample") / "catalog", SMALL_SPEC)
