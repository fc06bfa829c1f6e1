"""Training checkpoints: written atomically, read back as weights only, never code.

A checkpoint holds the network, optimiser and schedule state, the epoch, the
loss history, the training wall time and the configuration, so a run resumes
exactly where it stopped and ``cohcube export`` rebuilds the network from it.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cohcube.model.errors import ModelArtefactError

from .config import TrainingConfig
from .network import ResUNet, build_network, load_weights

CHECKPOINT_FORMAT = 1


@dataclass
class TrainingState:
    """What a checkpoint holds besides the tensors."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The newest ``epoch-*.pt`` of a run folder, or None."""
    found = sorted((out_dir / "checkpoints").glob("epoch-*.pt"))
    return found[-1] if found else None


def save_checkpoint(
    out_dir: Path,
    model: ResUNet,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    state: TrainingState,
    config: TrainingConfig,
    training_data: list[dict[str, Any]] | None = None,
) -> Path:
    """Write ``out_dir/checkpoints/epoch-NNNN.pt``; a crash mid-write leaves no truncated file."""
    folder = out_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"epoch-{state.epoch:04d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": schedule.state_dict(),
            "epoch": state.epoch,
            "history": state.history,
            "seconds": state.seconds,
            "config": config.model_dump(mode="json"),
            # What each source contributed (bursts per split): the card's record.
            "training_data": training_data or [],
        },
        tmp,
    )
    tmp.replace(path)
    return path


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint's contents: tensors and plain values only, never code (``weights_only``).

    Raises:
        ModelArtefactError: the file holds anything else (a pickle that would
            run code, another format) or is not a cohcube checkpoint.
    """
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelArtefactError(
            f"refusing checkpoint {path}: it is not a plain weights file ({reason}); only "
            "checkpoints written by `cohcube train` are loaded, and never code inside them"
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        raise ModelArtefactError(
            f"{path} is not a cohcube checkpoint of format {CHECKPOINT_FORMAT}"
        )
    return saved


def load_checkpoint(path: Path) -> tuple[ResUNet, TrainingConfig, dict[str, Any]]:
    """Rebuild the network of a checkpoint (weights only; no code is unpickled)."""
    saved = read_checkpoint(path)
    config = TrainingConfig.model_validate(saved["config"])
    model = build_network(config)
    load_weights(model, saved["model"])
    model.eval()
    return model, config, saved
