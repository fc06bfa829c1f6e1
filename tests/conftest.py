"""Session fixtures: a tiny trained, exported model (seconds to train) and a small sample."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

from cohcube.model.learning.config import TrainingConfig
from cohcube.pipeline.sample import SampleCatalog, SampleSpec, write_sample_catalog

#: The default sample's time structure on a smaller region (fast to simulate).
SMALL_SPEC = SampleSpec(size_px=512, block_px=256, workers=1, slice_overlap_px=32)
#: The same acquisitions as Level-1 GRD products (Earth Search-shaped items).
SMALL_GRD_SPEC = SampleSpec(size_px=512, block_px=256, workers=1, slice_overlap_px=32, source="grd")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (the README's ``-n auto``: one test process per core) each process
    computes on one thread: processes of several torch threads each would spin against
    each other on the shared cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


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
def tiny_speckle_artefact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny exported network that also reads the speckle-correlation channels (5 px box)."""
    from cohcube.model.learning.export import export_model
    from cohcube.model.learning.training import train

    settings = {**TINY, "network": {**TINY["network"], "speckle_window_px": 5}}  # type: ignore[dict-item]
    settings["optim"] = {**TINY["optim"], "epochs": 1, "mse_warmup_epochs": 0}  # type: ignore[dict-item]
    run = tmp_path_factory.mktemp("tiny-speckle-run")
    train(TrainingConfig.model_validate(settings), run, progress=False)
    out = tmp_path_factory.mktemp("tiny-speckle-model") / "tiny-speckle.pt"
    export_model(sorted((run / "checkpoints").glob("*.pt"))[-1], out, name="tiny-speckle")
    return out


@pytest.fixture(scope="session")
def opera_bursts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of OPERA CSLC-S1 files: 8 bursts (128 px scenes) x 3 dates 12 days apart."""
    from support.slc_stacks import OPERA_BURSTS, simulated_stack, write_opera_cslc

    folder = tmp_path_factory.mktemp("opera-cslc")
    for index, burst in enumerate(OPERA_BURSTS):
        corner = (500_000.0 + 2_000.0 * index, 5_000_000.0)
        stack = simulated_stack((128, 128), [0.0, 12.0, 24.0], 10 + index, corner_xy=corner)
        for date in range(3):
            write_opera_cslc(folder, stack, date, burst)
    return folder


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleCatalog:
    return write_sample_catalog(tmp_path_factory.mktemp("sample") / "catalog", SMALL_SPEC)


@pytest.fixture(scope="session")
def small_grd_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleCatalog:
    return write_sample_catalog(tmp_path_factory.mktemp("grd-sample") / "catalog", SMALL_GRD_SPEC)


def _made_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]
) -> Path:
    """A folder that ``make`` fills once per test run. Under pytest-xdist the first test
    process to ask makes it and the others wait for it and share it (the Keras fixtures
    cost ~30 s each time they are made)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent  # one per run, above each process's own
    folder = shared / name
    with FileLock(str(shared / f"{name}.lock")):
        if not (folder / ".made").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / ".made").touch()
    return folder


@pytest.fixture(scope="session")
def keras_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One randomly initialised Keras "Back2Coh_GRD_GEE", saved in both H5 layouts."""
    # The support module selects Keras's torch backend before Keras is first imported
    # (imported bare, Keras would look for TensorFlow and the tests would skip).
    keras_support = pytest.importorskip("support.keras_back2coh")

    def save(folder: Path) -> None:
        model = keras_support.randomise(keras_support.build(), seed=7)
        model.save_weights(str(folder / "model.weights.h5"))
        keras_support.save_legacy_h5(model, folder / "legacy.weights.h5")

    folder = _made_once(tmp_path_factory, "keras", save)
    return {"keras3": folder / "model.weights.h5", "legacy": folder / "legacy.weights.h5"}


@pytest.fixture(scope="session")
def imported_artefact(
    keras_weights: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The Keras 3 file imported as a cohcube artefact (``import_keras_artefact``)."""
    from cohcube.model.learning.export import import_keras_artefact

    def imported(folder: Path) -> None:
        import_keras_artefact(keras_weights["keras3"], folder / "back2coh.pt")

    return _made_once(tmp_path_factory, "imported", imported) / "back2coh.pt"


@pytest.fixture(scope="session")
def cli_imported_legacy(
    keras_weights: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The legacy-layout file imported by the ``cohcube import-keras`` console script."""
    from support.processes import cohcube_command

    out = tmp_path_factory.mktemp("imported-cli") / "back2coh.pt"
    imported = subprocess.run(
        [cohcube_command(), "import-keras", str(keras_weights["legacy"]), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "keras-2 h5" in imported.stdout
    return out
