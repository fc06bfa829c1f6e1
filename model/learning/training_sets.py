"""The training and validation patches of a config: every source, mixed by weight.

Simulator patches come from ``training_data`` (scenes per split seed), real
ones from ``slc_patches`` (pairs per burst, split by burst or area). Targets
are converted to ``data.target`` per source here (debiasing with each
source's own effective looks), so the training loop sees one target kind.
Each epoch draws every source's share of the patches by its weight, in an
order that is a function of ``(seed, epoch)`` only (resumable runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from cohcube.model.errors import ConfigError
from cohcube.model.physics.estimators import debias_coherence

from .config import TrainingConfig
from .data_sources import SimulatorSource
from .slc_patches import RealPatches, describe_split, split_patches
from .training_data import PatchSet, concatenate, simulate_patches


@dataclass
class TrainingSets:
    """Patches of every source with their source index.

    Attributes:
        train, validation: the patches; targets are the training target.
        train_source: ``(N_train,)`` source index of every training patch.
        weights: relative weight of every source (by index).
        description: per source, what it contributed (the card's record).
    """

    train: PatchSet
    train_source: NDArray[np.int16]
    validation: PatchSet
    weights: list[float]
    description: list[dict[str, Any]] = field(default_factory=list)


def _with_target(patches: PatchSet, target: NDArray[np.float32]) -> PatchSet:
    return PatchSet(
        patches.backscatter_db, target, patches.truth, patches.land_cover, patches.changed
    )


def real_training_target(real: RealPatches, kind: str) -> PatchSet:
    """Patches of ``real`` holding the ``data.target`` kind (real pairs have no true coherence)."""
    if kind == "true_coherence":
        raise ConfigError(
            "data.target true_coherence needs simulated data: real SLC pairs have no true "
            "coherence; use slc_coherence or slc_coherence_debiased"
        )
    if kind == "slc_coherence":
        return real.patches
    target = real.patches.target.copy()
    for looks in np.unique(real.coherence_looks):
        mine = real.coherence_looks == looks
        target[mine] = debias_coherence(target[mine], float(looks))
    return _with_target(real.patches, target)


def training_sets(config: TrainingConfig, cache_dir: Path, progress: bool = True) -> TrainingSets:
    """Training and validation patches of every source of ``config.data.sources``."""
    data = config.data
    train_parts: list[PatchSet] = []
    val_parts: list[PatchSet] = []
    source_of: list[NDArray[np.int16]] = []
    description: list[dict[str, Any]] = []
    for index, source in enumerate(data.sources):
        if isinstance(source, SimulatorSource):
            train = _simulated(config, "train", cache_dir)
            val = _simulated(config, "validation", cache_dir)
            description.append(
                {
                    "kind": "simulator",
                    "weight": source.weight,
                    "train_scenes": data.train_scenes,
                    "validation_scenes": data.validation_scenes,
                    "train_patches": len(train),
                }
            )
        else:
            parts = split_patches(
                source, data.split, data.patch_px, config.seed, cache_dir, progress
            )
            if len(parts["train"].units) == 0:
                raise ConfigError(
                    f"data.sources[{index}] ({source.kind}): the split leaves no training patches "
                    f"(units {sorted(set(u for p in parts.values() for u in p.units))}); change "
                    "data.split"
                )
            train = real_training_target(parts["train"], data.target)
            val = real_training_target(parts["validation"], data.target)
            description.append(describe_split(parts, source))
        train_parts.append(train)
        val_parts.append(val)
        source_of.append(np.full(len(train), index, dtype=np.int16))
    validation = concatenate(val_parts)
    if len(validation) == 0:
        raise ConfigError(
            "no validation patches: the split gives none to validation; set "
            "data.split.validation_units or a larger data.split.validation share"
        )
    return TrainingSets(
        train=concatenate(train_parts),
        train_source=np.concatenate(source_of),
        validation=validation,
        weights=[s.weight for s in data.sources],
        description=description,
    )


def validation_patches(config: TrainingConfig, cache_dir: Path) -> PatchSet:
    """The validation patches of every source, as ``training_sets`` gives them, without
    loading the training ones (export calibrates the uncertainty on these)."""
    data = config.data
    parts = []
    for source in data.sources:
        if isinstance(source, SimulatorSource):
            parts.append(_simulated(config, "validation", cache_dir))
            continue
        split = split_patches(source, data.split, data.patch_px, config.seed, cache_dir, False)
        parts.append(real_training_target(split["validation"], data.target))
    return concatenate(parts)


def _simulated(config: TrainingConfig, split: str, cache_dir: Path) -> PatchSet:
    """The simulator's ``split`` patches (cached under ``cache_dir``) with the training target."""
    data = config.data
    scenes = data.train_scenes if split == "train" else data.validation_scenes
    patches = simulate_patches(data, split, scenes, config.seed, cache_dir=cache_dir)
    return _with_target(patches, patches.training_target(data.target))


def epoch_order(
    train_source: NDArray[np.int16], weights: list[float], generator: torch.Generator
) -> torch.Tensor:
    """Patch indices of one epoch: as many as there are patches, each source by its weight.

    One source: a permutation of all patches (every patch once per epoch). Several:
    source ``i`` contributes ``round(share_i * N)`` patches, drawn without
    replacement and repeated only when its share exceeds its patches.
    """
    n = int(train_source.shape[0])
    present = sorted(set(int(i) for i in np.unique(train_source)))
    if len(present) == 1:
        return torch.randperm(n, generator=generator)
    total = sum(weights[i] for i in present)
    chosen = []
    for i in present:
        members = torch.from_numpy(np.flatnonzero(train_source == i))
        count = max(1, round(weights[i] / total * n))
        rounds = math.ceil(count / members.numel())
        draws = torch.cat(
            [members[torch.randperm(members.numel(), generator=generator)] for _ in range(rounds)]
        )
        chosen.append(draws[:count])
    order = torch.cat(chosen)
    return order[torch.randperm(order.numel(), generator=generator)]
