"""Training: checkpoints every epoch and exact resumption on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cohcube.model.errors import ModelArtefactError
from cohcube.model.learning.checkpoints import load_checkpoint
from cohcube.model.learning.config import TrainingConfig
from cohcube.model.learning.training import gaussian_nll, select_device, train


def test_every_epoch_leaves_a_checkpoint_and_history(tiny_run: Path) -> None:
    checkpoints = sorted((tiny_run / "checkpoints").glob("epoch-*.pt"))
    assert [p.name for p in checkpoints] == ["epoch-0001.pt", "epoch-0002.pt", "epoch-0003.pt"]
    history = json.loads((tiny_run / "history.json").read_text())
    assert [h["loss"] for h in history] == ["mse", "mse_nll", "mse_nll"]
    assert all(0 < h["val_rmse_truth"] < 1 for h in history)
    assert (tiny_run / "config.yaml").exists()


def test_resumed_run_follows_the_uninterrupted_loss_curve(
    tmp_path: Path, tiny_config: TrainingConfig, tiny_run: Path
) -> None:
    cache = tiny_run / "data"  # same simulated patches, no need to simulate again
    interrupted = tmp_path / "interrupted"
    train(tiny_config, interrupted, cache_dir=cache, progress=False, stop_after_epoch=1)
    assert len(list((interrupted / "checkpoints").glob("*.pt"))) == 1
    resumed = train(tiny_config, interrupted, cache_dir=cache, progress=False, resume=True)
    reference = json.loads((tiny_run / "history.json").read_text())
    assert len(resumed["history"]) == len(reference) == 3
    for got, want in zip(resumed["history"], reference, strict=True):
        for key in ("train_loss", "val_rmse_target", "val_rmse_truth", "val_nll"):
            assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), key


def test_resume_without_checkpoint_is_an_error(tmp_path: Path, tiny_config: TrainingConfig) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(tiny_config, tmp_path, resume=True, progress=False)


def test_gaussian_nll_prefers_honest_uncertainty() -> None:
    target = torch.zeros(1, 1, 8, 8)
    error = torch.full((1, 1, 8, 8), 0.3)

    def loss(sigma: float) -> float:
        pred = torch.cat([error, torch.full_like(error, 2 * torch.log(torch.tensor(sigma)))], 1)
        return float(gaussian_nll(pred, target, beta=0.0))

    assert loss(0.3) < loss(0.05)
    assert loss(0.3) < loss(1.0)


def test_device_selection() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            select_device("cuda")


class _Payload:
    """Unpickling this would create ``marker``: the kind of code a hostile checkpoint runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_carrying_code_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    hostile = tmp_path / "epoch-001.pt"
    torch.save({"format": 1, "model": _Payload(marker)}, hostile)
    with pytest.raises(ModelArtefactError, match="not a plain weights file"):
        load_checkpoint(hostile)
    assert not marker.exists()
    (tmp_path / "not-a-checkpoint.pt").write_bytes(b"\x00garbage")
    with pytest.raises(ModelArtefactError, match="refusing checkpoint"):
        load_checkpoint(tmp_path / "not-a-checkpoint.pt")
