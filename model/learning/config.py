"""Validated training configuration (YAML or TOML; unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, field_validator

from cohcube.model.config_files import StrictSection as _Strict
from cohcube.model.config_files import commented_template, load_config_file

from .data_sources import SimulatorSource, Source, SplitConfig, resolve_paths


class NetworkConfig(_Strict):
    width: int = Field(16, ge=2, le=128, description="Channels of the first U-Net level.")
    depth: int = Field(
        4, ge=1, le=6, description="Number of 2x poolings (tiles: multiples of 2**depth)."
    )
    polarizations: tuple[Literal["VV", "VH"], ...] = Field(
        ("VV",), min_length=1, description="Polarisations fed to the network, t1 and t2 each."
    )
    db_range: tuple[float, float] = Field(
        (-20.0, 0.0), description="Backscatter range in dB scaled onto [0, 1] (paper: -20..0)."
    )
    speckle_window_px: int = Field(
        0,
        ge=0,
        le=31,
        description="Side of the box (px, odd) of the speckle-correlation input channels: "
        "the two dates' local intensity correlation at the 3 x 3 lags around zero, per "
        "polarisation; 0: backscatter only.",
    )
    style: Literal["cohcube", "keras"] = Field(
        "cohcube",
        description="cohcube: the network trained here; keras: the paper's released layout "
        "(width 32, depth 4), to fine-tune imported weights with --init.",
    )

    @field_validator("db_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] >= value[1]:
            raise ValueError("db_range must be (low, high) with low < high")
        return value


class DataConfig(_Strict):
    scene_px: int = Field(256, ge=32, description="Side of each simulated scene, 10 m pixels.")
    patch_px: int = Field(128, ge=16, description="Side of a training patch, pixels.")
    train_scenes: int = Field(2000, ge=1, description="Simulated scenes for training.")
    validation_scenes: int = Field(100, ge=1, description="Held-out scenes for validation.")
    baseline_days: float = Field(
        12.0, gt=0, description="Temporal baseline of training pairs, days."
    )
    max_misregistration_px: float = Field(
        1.0, ge=0, le=3, description="Largest shift between the two dates' grids, pixels."
    )
    change_probability: float = Field(
        0.1, ge=0, le=1, description="Chance that an eligible field changes between dates."
    )
    target: Literal["slc_coherence", "slc_coherence_debiased", "true_coherence"] = Field(
        "slc_coherence",
        description="Training target: SLC sample coherence (the paper), the same with its "
        "estimation bias removed (Touzi inverse at the window's effective looks), or the "
        "simulator's true coherence.",
    )
    workers: int = Field(2, ge=1, description="Processes that simulate scenes.")
    sources: list[Source] = Field(
        default_factory=lambda: list[Source]([SimulatorSource()]),
        min_length=1,
        description="Where patches come from: simulator, slc_pairs (GDAL complex rasters), "
        "opera_cslc (OPERA CSLC-S1 HDF5), mixed by weight.",
    )
    split: SplitConfig = Field(
        default_factory=SplitConfig,
        description="Train/validation/test split of real patches (by burst or by area).",
    )

    @field_validator("patch_px")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("patch_px must be even")
        return value


class OptimConfig(_Strict):
    epochs: int = Field(8, ge=1, description="Passes over the training patches.")
    batch_size: int = Field(16, ge=1, description="Patches per optimiser step.")
    learning_rate: float = Field(2e-3, gt=0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay.")
    mse_warmup_epochs: int = Field(
        1, ge=0, description="Epochs trained on the coherence MSE before the Gaussian NLL."
    )
    loss: Literal["nll", "beta_nll", "mse_nll"] = Field(
        "mse_nll",
        description="nll: Gaussian NLL on mean and log-variance; beta_nll: the same weighted "
        "by sigma (beta 0.5); mse_nll: mean by MSE, log-variance by NLL around the detached "
        "mean.",
    )


class FineTuneConfig(_Strict):
    init: str | None = Field(
        None,
        description="Artefact (.pt or card) whose weights training starts from; "
        "`cohcube train --init` sets it.",
    )
    freeze_encoder_levels: int = Field(
        0,
        ge=0,
        le=7,
        description="Encoder levels (from the input side; depth + 1 includes the bottleneck) "
        "whose weights stay fixed when training starts from --init.",
    )
    learning_rate_factor: float = Field(
        0.1, gt=0, le=1, description="optim.learning_rate is multiplied by this with --init."
    )


class TrainingConfig(_Strict):
    seed: int = Field(0, ge=0, description="Seed of scenes, initialisation and batch order.")
    network: NetworkConfig = Field(
        default_factory=NetworkConfig, description="The network's size and inputs."
    )
    data: DataConfig = Field(
        default_factory=DataConfig, description="The simulated training and validation data."
    )
    optim: OptimConfig = Field(default_factory=OptimConfig, description="The optimisation.")
    fine_tune: FineTuneConfig = Field(
        default_factory=FineTuneConfig, description="Fine-tuning from an artefact (--init)."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Training device; auto picks CUDA when available."
    )
    threads: int | None = Field(None, ge=1, description="Torch CPU threads (default: all cores).")

    @field_validator("data")
    @classmethod
    def _patch_fits(cls, value: DataConfig) -> DataConfig:
        if value.patch_px > value.scene_px:
            raise ValueError("data.patch_px must not exceed data.scene_px")
        return value


def load_training_config(path: Path) -> TrainingConfig:
    """Read and validate a YAML (.yaml/.yml) or TOML (.toml) training configuration."""
    config = load_config_file(path, TrainingConfig.model_validate, TrainingConfig)
    sources = [resolve_paths(source, path.parent) for source in config.data.sources]
    return config.model_copy(update={"data": config.data.model_copy(update={"sources": sources})})


def dump_training_config(config: TrainingConfig) -> str:
    """The configuration as YAML (tuples written as lists)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def training_config_template() -> str:
    """A commented training config: every field with its description and default."""
    return commented_template(
        TrainingConfig,
        "cohcube train: the training configuration (every field, its default).\n"
        "Run: cohcube train THIS_FILE --out RUN_FOLDER",
    )
