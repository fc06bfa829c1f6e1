"""Training the coherence network on simulated pairs.

Reproducible on CPU: the batch order and augmentations of epoch ``e`` are a
function of ``(seed, e)`` only, so a run resumed from its epoch checkpoint
follows the same loss curve as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cohcube.model.errors import MissingPathError

from .checkpoints import TrainingState, latest_checkpoint, read_checkpoint, save_checkpoint
from .config import OptimConfig, TrainingConfig, dump_training_config
from .network import ResUNet, build_network, parameter_count
from .preprocessing import InputContract, contract_for
from .training_data import PatchSet, simulate_patches

log = logging.getLogger(__name__)


def select_device(requested: str = "auto") -> torch.device:
    """``cuda`` when asked or available (auto), else ``cpu``; clear error if CUDA is missing."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no CUDA device is available; use 'cpu'")
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def gaussian_nll(prediction: torch.Tensor, target: torch.Tensor, beta: float = 0.0) -> torch.Tensor:
    """Heteroscedastic Gaussian NLL, beta-weighted (Seitzer et al. 2022).

    ``prediction`` is ``(N, 2, H, W)`` (mean, log-variance); ``target`` ``(N, 1, H, W)``.
    ``beta = 0`` is the plain NLL; ``beta > 0`` weights each pixel by the
    (detached) ``sigma^(2 beta)`` so that uncertain pixels still train the mean.
    """
    mean, log_var = prediction[:, :1], prediction[:, 1:].clamp(-14.0, 4.0)
    nll = 0.5 * (torch.exp(-log_var) * (target - mean) ** 2 + log_var)
    if beta > 0:
        nll = nll * torch.exp(beta * log_var).detach()
    return nll.mean()


def training_loss(prediction: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """The loss of ``OptimConfig.loss``; ``"mse"`` trains the mean alone (warm-up)."""
    if kind == "mse":
        return ((prediction[:, :1] - target) ** 2).mean()
    if kind == "nll":
        return gaussian_nll(prediction, target)
    if kind == "beta_nll":
        return gaussian_nll(prediction, target, beta=0.5)
    # mse_nll: the mean learns the conditional mean (what RMSE scores); the
    # log-variance learns the spread around it without pulling on the mean.
    detached = torch.cat([prediction[:, :1].detach(), prediction[:, 1:]], dim=1)
    return ((prediction[:, :1] - target) ** 2).mean() + gaussian_nll(detached, target)


def _augment(
    x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random range/azimuth flips and date swaps, per sample (90-degree turns would
    swap the sensor's unequal range and azimuth resolutions, so none)."""
    n = x.shape[0]
    flip_x, flip_y, swap = (torch.rand(3, n, generator=generator) < 0.5).unbind(0)
    flip_x, flip_y, swap = (m[:, None, None, None] for m in (flip_x, flip_y, swap))
    x = torch.where(flip_x, x.flip(-1), x)
    y = torch.where(flip_x, y.flip(-1), y)
    x = torch.where(flip_y, x.flip(-2), x)
    y = torch.where(flip_y, y.flip(-2), y)
    # Channels come in (t1, t2) pairs per polarisation.
    swapped = x.reshape(n, -1, 2, *x.shape[-2:]).flip(2).reshape(x.shape)
    x = torch.where(swap, swapped, x)
    return x, y


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(
        int(np.random.SeedSequence([seed, 7, epoch]).generate_state(1)[0])
    )


def _validate(
    model: ResUNet,
    x: torch.Tensor,
    target: torch.Tensor,
    truth: torch.Tensor,
    device: torch.device,
    batch_size: int,
) -> dict[str, float]:
    model.eval()
    sq_target = sq_truth = nll = 0.0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device)
            out = model(xb).float().cpu()
            tb, trb = target[start : start + batch_size], truth[start : start + batch_size]
            sq_target += float(((out[:, :1] - tb) ** 2).sum())
            sq_truth += float(((out[:, :1] - trb) ** 2).sum())
            nll += float(gaussian_nll(out, tb, beta=0.0)) * xb.shape[0]
    n = target.numel()
    return {
        "val_rmse_target": math.sqrt(sq_target / n),
        "val_rmse_truth": math.sqrt(sq_truth / n),
        "val_nll": nll / x.shape[0],
    }


def _tensors(
    patches: PatchSet, contract: InputContract, target: str
) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(patches.inputs(contract))
    y = torch.from_numpy(np.ascontiguousarray(patches.training_target(target)[:, None]))
    return x, y


def _cosine_schedule(
    optimizer: torch.optim.Optimizer, steps_per_epoch: int, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over a quarter epoch, then cosine decay to zero at the last step."""
    total_steps = steps_per_epoch * epochs
    warmup = max(1, steps_per_epoch // 4)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            min(1.0, (step + 1) / warmup)
            * 0.5
            * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
        ),
    )


def _train_epoch(
    run: _Run,
    opt: OptimConfig,
    generator: torch.Generator,
    loss_kind: str,
    device: torch.device,
    description: str,
    progress: bool,
) -> float:
    """One pass over the training patches in the epoch's order; returns the mean loss."""
    model, optimizer, schedule = run.model, run.optimizer, run.schedule
    x_train, y_train = run.training
    model.train()
    order = torch.randperm(x_train.shape[0], generator=generator)
    steps = math.ceil(x_train.shape[0] / opt.batch_size)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    total = 0.0
    bar = tqdm(range(steps), desc=description, disable=not progress, leave=False)
    for step in bar:
        idx = order[step * opt.batch_size : (step + 1) * opt.batch_size]
        xb, yb = _augment(x_train[idx], y_train[idx], generator)
        xb, yb = xb.to(device), yb.to(device)
        with autocast:
            out = model(xb).float()
        loss = training_loss(out, yb, loss_kind)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        schedule.step()
        total += float(loss.detach())
        bar.set_postfix(loss=f"{total / (step + 1):.4f}")
    return total / steps


@dataclass
class _Run:
    """A training run ready for its next epoch."""

    model: ResUNet
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    state: TrainingState
    training: tuple[torch.Tensor, torch.Tensor]
    validation: tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _start_run(
    config: TrainingConfig, out_dir: Path, device: torch.device, cache: Path, resume: bool
) -> _Run:
    """Network, optimiser, schedule and patches; restored from the newest checkpoint on resume."""
    torch.manual_seed(config.seed)
    model = build_network(config).to(device)
    contract = contract_for(config)
    opt, data = config.optim, config.data
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=opt.learning_rate, weight_decay=opt.weight_decay
    )
    train_set = simulate_patches(data, "train", data.train_scenes, config.seed, cache_dir=cache)
    val_set = simulate_patches(
        data, "validation", data.validation_scenes, config.seed, cache_dir=cache
    )
    x_val, y_val = _tensors(val_set, contract, data.target)
    validation = (x_val, y_val, torch.from_numpy(val_set.truth[:, None]))
    schedule = _cosine_schedule(optimizer, math.ceil(len(train_set) / opt.batch_size), opt.epochs)
    state = TrainingState()
    if resume:
        latest = latest_checkpoint(out_dir)
        if latest is None:
            raise MissingPathError(f"--resume: no checkpoint in {out_dir / 'checkpoints'}")
        saved = read_checkpoint(latest, device)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["scheduler"])
        state = TrainingState(saved["epoch"], saved["history"], saved["seconds"])
        log.info("resumed from %s (epoch %d)", latest, state.epoch)
    training = _tensors(train_set, contract, data.target)
    return _Run(model, optimizer, schedule, state, training, validation)


def train(
    config: TrainingConfig,
    out_dir: Path,
    *,
    resume: bool = False,
    cache_dir: Path | None = None,
    progress: bool = True,
    stop_after_epoch: int | None = None,
) -> dict[str, Any]:
    """Train a network and write checkpoints to ``out_dir/checkpoints``.

    Args:
        config: validated training configuration.
        out_dir: run folder (config copy, checkpoints, ``history.json``).
        resume: continue from the newest checkpoint in ``out_dir``.
        cache_dir: cache for simulated patches (default ``out_dir/data``).
        progress: show a progress bar.
        stop_after_epoch: end after this epoch (tests use it to interrupt a run).

    Returns:
        Summary: epochs, history, parameter count, device, wall time.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    device = select_device(config.device)
    threads = config.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    run = _start_run(config, out_dir, device, cache_dir or out_dir / "data", resume)
    state, opt = run.state, config.optim
    patches = run.training[0].shape[0]
    (out_dir / "config.yaml").write_text(dump_training_config(config))
    log.info(
        "training %d-parameter ResUNet on %s (%d threads), %d patches, %d epochs",
        parameter_count(run.model),
        device,
        threads,
        patches,
        opt.epochs,
    )
    for epoch in range(state.epoch + 1, opt.epochs + 1):
        started = time.perf_counter()
        loss_kind = "mse" if epoch <= opt.mse_warmup_epochs else opt.loss
        generator = _epoch_generator(config.seed, epoch)
        description = f"epoch {epoch}/{opt.epochs}"
        train_loss = _train_epoch(run, opt, generator, loss_kind, device, description, progress)
        metrics: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "loss": loss_kind}
        metrics.update(_validate(run.model, *run.validation, device, opt.batch_size))
        state.seconds += time.perf_counter() - started
        state.epoch = epoch
        state.history.append(metrics)
        save_checkpoint(out_dir, run.model, run.optimizer, run.schedule, state, config)
        log.info(
            "epoch %d: %s",
            epoch,
            ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float)),
        )
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    (out_dir / "history.json").write_text(json.dumps(state.history, indent=2) + "\n")
    return {
        "epochs": state.epoch,
        "history": state.history,
        "parameters": parameter_count(run.model),
        "device": str(device),
        "threads": threads,
        "train_seconds": round(state.seconds, 1),
        "train_patches": patches,
    }
