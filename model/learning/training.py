"""Training the coherence network on simulated and real pairs (``data.sources``).

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
from numpy.typing import NDArray
from tqdm.auto import tqdm

from cohcube.model.errors import MissingPathError

from .checkpoints import TrainingState, latest_checkpoint, read_checkpoint, save_checkpoint
from .config import OptimConfig, TrainingConfig, dump_training_config
from .fine_tuning import freeze_encoder_levels, initial_weights, keep_frozen_in_eval
from .network import ResUNet, build_network, load_weights, parameter_count
from .preprocessing import InputContract, contract_for
from .training_data import PatchSet
from .training_sets import epoch_order, training_sets

log = logging.getLogger(__name__)


def select_device(requested: str = "auto") -> torch.device:
    """``cuda`` when asked or available (auto), else ``cpu``; clear error if CUDA is missing."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no CUDA device is available; use 'cpu'")
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def _mean(values: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean over all pixels, or over the ``valid`` ones (real patches have no-data pixels)."""
    if valid is None:
        return values.mean()
    return torch.where(valid, values, 0.0).sum() / valid.sum().clamp(min=1)


def _valid_target(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    valid = torch.isfinite(target)
    if bool(valid.all()):
        return target, None
    return torch.where(valid, target, 0.0), valid


def gaussian_nll(prediction: torch.Tensor, target: torch.Tensor, beta: float = 0.0) -> torch.Tensor:
    """Heteroscedastic Gaussian NLL, beta-weighted (Seitzer et al. 2022).

    ``prediction`` is ``(N, 2, H, W)`` (mean, log-variance); ``target`` ``(N, 1, H, W)``,
    NaN where there is no data (left out of the mean).
    ``beta = 0`` is the plain NLL; ``beta > 0`` weights each pixel by the
    (detached) ``sigma^(2 beta)`` so that uncertain pixels still train the mean.
    """
    target, valid = _valid_target(target)
    mean, log_var = prediction[:, :1], prediction[:, 1:].clamp(-14.0, 4.0)
    nll = 0.5 * (torch.exp(-log_var) * (target - mean) ** 2 + log_var)
    if beta > 0:
        nll = nll * torch.exp(beta * log_var).detach()
    return _mean(nll, valid)


def training_loss(prediction: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """The loss of ``OptimConfig.loss``; ``"mse"`` trains the mean alone (warm-up).

    NaN target pixels (no data in real patches) do not count.
    """
    filled, valid = _valid_target(target)
    if kind == "mse":
        return _mean((prediction[:, :1] - filled) ** 2, valid)
    if kind == "nll":
        return gaussian_nll(prediction, target)
    if kind == "beta_nll":
        return gaussian_nll(prediction, target, beta=0.5)
    # mse_nll: the mean learns the conditional mean (what RMSE scores); the
    # log-variance learns the spread around it without pulling on the mean.
    detached = torch.cat([prediction[:, :1].detach(), prediction[:, 1:]], dim=1)
    return _mean((prediction[:, :1] - filled) ** 2, valid) + gaussian_nll(detached, target)


def _augment(
    x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, backscatter_channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random range/azimuth flips and date swaps, per sample (90-degree turns would
    swap the sensor's unequal range and azimuth resolutions, so none)."""
    n = x.shape[0]
    flip_x, flip_y, swap = (torch.rand(3, n, generator=generator) < 0.5).unbind(0)
    return augmented(x, y, flip_x, flip_y, swap, backscatter_channels)


def augmented(
    x: torch.Tensor,
    y: torch.Tensor,
    flip_x: torch.Tensor,
    flip_y: torch.Tensor,
    swap: torch.Tensor,
    backscatter_channels: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, C, H, W)`` inputs and ``(N, 1, H, W)`` targets flipped in x, in y and their dates
    swapped where the ``(N,)`` masks say. Channels after the first ``backscatter_channels``
    (``(t1, t2)`` per polarisation) are speckle correlations at 3 x 3 lags per polarisation:
    a flip mirrors their lags too, and a date swap negates them."""
    n = x.shape[0]
    flip_x, flip_y, swap = (m[:, None, None, None] for m in (flip_x, flip_y, swap))
    back, lags = x[:, :backscatter_channels], x[:, backscatter_channels:]
    shape = lags.shape

    def lag_flipped(values: torch.Tensor, *axes: int) -> torch.Tensor:
        if values.shape[1] == 0:  # backscatter only
            return values
        return values.reshape(n, -1, 3, 3, *shape[-2:]).flip(axes).reshape(shape)

    back = torch.where(flip_x, back.flip(-1), back)
    lags = torch.where(flip_x, lag_flipped(lags, 3).flip(-1), lags)
    y = torch.where(flip_x, y.flip(-1), y)
    back = torch.where(flip_y, back.flip(-2), back)
    lags = torch.where(flip_y, lag_flipped(lags, 2).flip(-2), lags)
    y = torch.where(flip_y, y.flip(-2), y)
    swapped = back.reshape(n, -1, 2, *back.shape[-2:]).flip(2).reshape(back.shape)
    back = torch.where(swap, swapped, back)
    lags = torch.where(swap, lag_flipped(lags, 2, 3), lags)
    return torch.cat([back, lags], 1), y


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
) -> dict[str, float | None]:
    model.eval()
    sq_target = sq_truth = nll = 0.0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device)
            out = model(xb).float().cpu()
            tb, trb = target[start : start + batch_size], truth[start : start + batch_size]
            sq_target += float(torch.nansum((out[:, :1] - tb) ** 2))
            sq_truth += float(torch.nansum((out[:, :1] - trb) ** 2))
            nll += float(gaussian_nll(out, tb, beta=0.0)) * xb.shape[0]
    n_target, n_truth = int(torch.isfinite(target).sum()), int(torch.isfinite(truth).sum())
    # Real pairs have no true coherence: their truth is NaN and not scored.
    return {
        "val_rmse_target": math.sqrt(sq_target / max(n_target, 1)),
        "val_rmse_truth": math.sqrt(sq_truth / n_truth) if n_truth else None,
        "val_nll": nll / x.shape[0],
    }


def _tensors(patches: PatchSet, contract: InputContract) -> tuple[torch.Tensor, torch.Tensor]:
    """Network inputs (no data filled as the contract says) and the target (NaN kept)."""
    # In place: with speckle channels the inputs of 6000 patches are 8.7 GB, a copy 8.7 more.
    inputs = np.nan_to_num(patches.inputs(contract), copy=False, nan=contract.nodata_fill)
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(patches.target[:, None]))
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
    keep_frozen_in_eval(model, run.frozen_levels)
    order = epoch_order(run.train_source, run.weights, generator)
    steps = math.ceil(order.numel() / opt.batch_size)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    total = 0.0
    bar = tqdm(range(steps), desc=description, disable=not progress, leave=False)
    for step in bar:
        idx = order[step * opt.batch_size : (step + 1) * opt.batch_size]
        xb, yb = _augment(x_train[idx], y_train[idx], generator, run.backscatter_channels)
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
    train_source: NDArray[np.int16]
    weights: list[float]
    frozen_levels: int
    data_description: list[dict[str, Any]]
    backscatter_channels: int


def _start_run(
    config: TrainingConfig,
    out_dir: Path,
    device: torch.device,
    cache: Path,
    resume: bool,
    progress: bool,
) -> _Run:
    """Network, optimiser, schedule and patches; restored from the newest checkpoint on resume.

    With ``config.fine_tune.init`` the network starts from that artefact's
    weights, its first encoder levels frozen and the learning rate scaled.
    """
    torch.manual_seed(config.seed)
    model = build_network(config)
    opt, tune = config.optim, config.fine_tune
    learning_rate, frozen = opt.learning_rate, 0
    if tune.init is not None:
        load_weights(model, initial_weights(tune.init, config))
        frozen = tune.freeze_encoder_levels
        count = freeze_encoder_levels(model, frozen)
        learning_rate *= tune.learning_rate_factor
        log.info("fine-tuning: %d encoder level(s) frozen (%d parameters)", frozen, count)
    model = model.to(device)
    contract = contract_for(config)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=learning_rate,
        weight_decay=opt.weight_decay,
    )
    sets = training_sets(config, cache, progress)
    x_val, y_val = _tensors(sets.validation, contract)
    validation = (x_val, y_val, torch.from_numpy(sets.validation.truth[:, None]))
    steps = math.ceil(len(sets.train) / opt.batch_size)
    schedule = _cosine_schedule(optimizer, steps, opt.epochs)
    state = TrainingState()
    if resume:
        latest = latest_checkpoint(out_dir)
        if latest is None:
            raise MissingPathError(f"--resume: no checkpoint in {out_dir / 'checkpoints'}")
        saved = read_checkpoint(latest, device)
        load_weights(model, saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["scheduler"])
        state = TrainingState(saved["epoch"], saved["history"], saved["seconds"])
        log.info("resumed from %s (epoch %d)", latest, state.epoch)
    training = _tensors(sets.train, contract)
    return _Run(
        model,
        optimizer,
        schedule,
        state,
        training,
        validation,
        sets.train_source,
        sets.weights,
        frozen,
        sets.description,
        2 * len(contract.polarizations),
    )


def _with_saved_init(config: TrainingConfig, out_dir: Path, resume: bool) -> TrainingConfig:
    """On resume, keep the artefact a fine-tuning run started from (its frozen levels too)."""
    latest = latest_checkpoint(out_dir) if resume else None
    if latest is None or config.fine_tune.init is not None:
        return config
    saved = TrainingConfig.model_validate(read_checkpoint(latest)["config"])
    if saved.fine_tune.init is None:
        return config
    return config.model_copy(update={"fine_tune": saved.fine_tune})


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
    config = _with_saved_init(config, out_dir, resume)
    run = _start_run(config, out_dir, device, cache_dir or out_dir / "data", resume, progress)
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
        # The paper's second head is a sigmoid, not a log-variance: train its mean only.
        warmup = epoch <= opt.mse_warmup_epochs or config.network.style == "keras"
        loss_kind = "mse" if warmup else opt.loss
        generator = _epoch_generator(config.seed, epoch)
        description = f"epoch {epoch}/{opt.epochs}"
        train_loss = _train_epoch(run, opt, generator, loss_kind, device, description, progress)
        metrics: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "loss": loss_kind}
        metrics.update(_validate(run.model, *run.validation, device, opt.batch_size))
        state.seconds += time.perf_counter() - started
        state.epoch = epoch
        state.history.append(metrics)
        save_checkpoint(
            out_dir, run.model, run.optimizer, run.schedule, state, config, run.data_description
        )
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
