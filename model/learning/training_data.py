"""Training patches from the simulator: generation, caching and batching.

Every scene is a pure function of ``(seed, split, index)``, so training,
validation and test scenes never overlap and any split can be regenerated.
Patches store backscatter in dB (VV and VH, both dates) and the VV coherence
target and truth; the network's contract picks and scales channels at batch
time, so one cache serves every network configuration.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from cohcube.model.physics.alt_scenes import simulate_alt_pair
from cohcube.model.physics.estimators import debias_coherence
from cohcube.model.physics.landcover import POLARIZATIONS
from cohcube.model.physics.radiometry import db_to_linear, linear_to_db
from cohcube.model.physics.sensor import SensorGeometry
from cohcube.model.physics.simulator import SimulatedPair, simulate_pair

from .config import DataConfig
from .preprocessing import InputContract, scale_db
from .speckle_channels import speckle_channels

log = logging.getLogger(__name__)

SPLITS = {"train": 0, "validation": 1, "test": 2}
#: Scene generators: the training simulator, or the alternative one (evaluation only).
SceneKind = Literal["standard", "alt"]
SCENE_KINDS: tuple[SceneKind, ...] = ("standard", "alt")


@dataclass
class PatchSet:
    """Simulated patches.

    Attributes:
        backscatter_db: ``(N, 4, P, P)`` float16 dB, channels VV_t1, VV_t2, VH_t1, VH_t2.
        target: ``(N, P, P)`` float32 VV SLC sample coherence.
        truth: ``(N, P, P)`` float32 VV true coherence.
        land_cover: ``(N, P, P)`` int8 class at the first date.
        changed: ``(N, P, P)`` bool, field changed between the dates.
    """

    backscatter_db: NDArray[np.float16]
    target: NDArray[np.float32]
    truth: NDArray[np.float32]
    land_cover: NDArray[np.int8]
    changed: NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def inputs(self, contract: InputContract) -> NDArray[np.float32]:
        """Network channels ``(N, C, P, P)`` scaled per ``contract``."""
        index = [2 * POLARIZATIONS.index(p) + t for p in contract.polarizations for t in (0, 1)]
        if not contract.speckle_window_px:
            return scale_db(self.backscatter_db[:, index], contract.db_range)
        n, _, h, w = self.backscatter_db.shape
        out = np.empty((n, contract.channels, h, w), dtype=np.float32)
        # Patch by patch: 6000 patches of 22 channels are 8.7 GB, with no room for copies.
        for i, patch in enumerate(self.backscatter_db[:, index]):
            out[i, : len(index)] = scale_db(patch, contract.db_range)
            linear = db_to_linear(patch, np.float32)
            out[i, len(index) :] = speckle_channels(
                linear[0::2], linear[1::2], contract.speckle_window_px
            )
        return out

    def training_target(
        self, kind: str, geometry: SensorGeometry | None = None
    ) -> NDArray[np.float32]:
        """The target the loss uses (see ``DataConfig.target``)."""
        if kind == "slc_coherence":
            return self.target
        if kind == "true_coherence":
            return self.truth
        looks = (geometry or SensorGeometry()).coherence_looks
        return debias_coherence(self.target, looks)


def scene_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """Seed of scene ``index`` of ``split``: splits and runs never share scenes."""
    return np.random.SeedSequence([seed, SPLITS[split], index])


def scene_pair(
    data: DataConfig, baseline_days: float, seed: np.random.SeedSequence
) -> SimulatedPair:
    """The VV+VH pair of one scene (seed from ``scene_seed``) under ``data``'s settings.

    The one definition of a split's scenes: training patches, ``cohcube
    evaluate`` and the accuracy bounds all draw their pairs here.
    """
    return simulate_pair(
        (data.scene_px, data.scene_px),
        baseline_days,
        seed=np.random.default_rng(seed),
        polarizations=POLARIZATIONS,
        max_misregistration_px=data.max_misregistration_px,
        change_probability=data.change_probability,
    )


SceneJob = tuple[DataConfig, float, np.random.SeedSequence]
T = TypeVar("T")


def map_scenes(
    function: Callable[[SceneJob], T],
    data: DataConfig,
    split: str,
    n_scenes: int,
    seed: int,
    baseline_days: float,
) -> list[T]:
    """``function`` over scenes ``0 .. n_scenes-1`` of ``split``, in ``data.workers`` processes.

    ``function`` gets ``(data, baseline_days, scene seed)`` and must be a
    module-level function (it is pickled to spawned worker processes).
    """
    jobs = [(data, float(baseline_days), scene_seed(seed, split, i)) for i in range(n_scenes)]
    if data.workers > 1 and n_scenes > 1:
        # spawn: forking a process that already runs torch threads can deadlock.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=data.workers, mp_context=context) as pool:
            return list(pool.map(function, jobs, chunksize=4))
    return [function(job) for job in jobs]


def _simulate_scene(args: SceneJob) -> PatchSet:
    data, baseline_days, seed = args
    return _patches(scene_pair(data, baseline_days, seed), data)


def _simulate_alt_scene(args: SceneJob) -> PatchSet:
    data, baseline_days, seed = args
    pair = simulate_alt_pair(
        (data.scene_px, data.scene_px),
        baseline_days,
        seed=seed,
        change_probability=data.change_probability,
    )
    return _patches(pair, data)


def _patches(pair: SimulatedPair, data: DataConfig) -> PatchSet:
    """A pair cut into ``data.patch_px`` patches."""
    p = data.patch_px
    n = data.scene_px // p

    def tiles(image: NDArray[np.generic]) -> NDArray[np.generic]:
        # (..., n*p, n*p) -> (n*n, ..., p, p)
        lead = image.shape[:-2]
        cropped = image[..., : n * p, : n * p].reshape(*lead, n, p, n, p)
        moved = np.moveaxis(cropped, (-4, -2), (0, 1))
        return moved.reshape(n * n, *lead, p, p)

    db = np.stack([pair.reference[0], pair.secondary[0], pair.reference[1], pair.secondary[1]])
    return PatchSet(
        backscatter_db=tiles(linear_to_db(db).astype(np.float16)),  # type: ignore[arg-type]
        target=tiles(pair.coherence_target[0]),  # type: ignore[arg-type]
        truth=tiles(pair.coherence_true[0]),  # type: ignore[arg-type]
        land_cover=tiles(pair.land_cover),  # type: ignore[arg-type]
        changed=tiles(pair.changed),  # type: ignore[arg-type]
    )


def concatenate(parts: Sequence[PatchSet]) -> PatchSet:
    """One patch set of ``parts`` in order (a single part is returned as it is, uncopied)."""
    if len(parts) == 1:
        return parts[0]
    return PatchSet(
        backscatter_db=np.concatenate([p.backscatter_db for p in parts]),
        target=np.concatenate([p.target for p in parts]),
        truth=np.concatenate([p.truth for p in parts]),
        land_cover=np.concatenate([p.land_cover for p in parts]),
        changed=np.concatenate([p.changed for p in parts]),
    )


def _cache_key(
    data: DataConfig, split: str, n_scenes: int, baseline_days: float, seed: int, scenes: str
) -> str:
    fields = data.model_dump(
        exclude={
            "workers",
            "target",
            "train_scenes",
            "validation_scenes",
            "baseline_days",
            "sources",
            "split",
        }
    )
    spec = {
        "data": fields,
        "split": split,
        "scenes": n_scenes,
        "baseline": baseline_days,
        "seed": seed,
        "format": 1,
        **({"scenes": scenes} if scenes != "standard" else {}),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def simulate_patches(
    data: DataConfig,
    split: str,
    n_scenes: int,
    seed: int,
    *,
    baseline_days: float | None = None,
    cache_dir: Path | None = None,
    scenes: SceneKind = "standard",
) -> PatchSet:
    """Simulate ``n_scenes`` scenes of ``split`` and cut them into patches.

    Args:
        data: data settings (scene and patch size, misregistration, changes).
        split: ``"train"``, ``"validation"`` or ``"test"``.
        n_scenes: number of scenes.
        seed: run seed.
        baseline_days: temporal baseline (default ``data.baseline_days``).
        cache_dir: folder for an ``.npz`` cache keyed by all of the above.
        scenes: ``standard`` (the training simulator) or ``alt`` (the alternative
            generator of ``physics.alt_scenes``, for evaluation only).
    """
    baseline = float(baseline_days if baseline_days is not None else data.baseline_days)
    path = None
    if cache_dir is not None:
        key = _cache_key(data, split, n_scenes, baseline, seed, scenes)
        path = cache_dir / f"{split}-{baseline:g}d-{key}.npz"
        if path.exists():
            with np.load(path) as stored:
                return PatchSet(**{k: stored[k] for k in stored.files})
    log.info("simulating %d %s %s scenes (%g-day pairs)", n_scenes, scenes, split, baseline)
    simulate = _simulate_alt_scene if scenes == "alt" else _simulate_scene
    patches = concatenate(map_scenes(simulate, data, split, n_scenes, seed, baseline))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **vars(patches))
        tmp.replace(path)
    return patches
