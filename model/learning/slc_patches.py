"""Training patches from real SLC stacks: pairing, extraction into a Zarr cache, splits.

Every pair of a source (dates of one burst at most ``max_baseline_days``
apart, plus any explicit pairs) is extracted once into
``<cache>/slc-patches/<key>.zarr``; the key covers the files (path, size,
modification time) and every extraction setting, so a second epoch or run
reads the cache and a changed file is extracted again. A store is written
under a temporary name and renamed when complete: an interrupted extraction
leaves nothing that looks finished. Splits are assigned when patches are
loaded, by burst (stack) or by ground block, never by random patch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import zarr
from numpy.typing import NDArray
from tqdm.auto import tqdm

from cohcube.model.errors import SlcPairError
from cohcube.model.physics.simulator import random_offset

from .data_sources import OperaCslcSource, SlcSource, SplitConfig
from .opera_cslc import OperaCslcFile
from .slc_extraction import detected_strips, geometry_for, output_layout, strip_patches
from .slc_files import POL, SlcFile, check_pair, expand_slc_paths
from .slc_reader import GdalSlcFile
from .training_data import PatchSet, concatenate

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
#: GDAL block cache while a pair is extracted, MB (strips are read once, in order).
GDAL_CACHE_MB = 128
SPLIT_NAMES = ("train", "validation", "test")


def open_slc(source: SlcSource, path: str | Path) -> SlcFile:
    """The acquisition at ``path`` read the way ``source`` says."""
    if isinstance(source, OperaCslcSource):
        return OperaCslcFile(path, source.polarizations)
    lookup = (Path(source.lat), Path(source.lon)) if source.lat and source.lon else None
    return GdalSlcFile(path, source.polarizations, source.stack, source.band, lookup)


@dataclass(frozen=True)
class PairPlan:
    """A pair to extract: its files, dates, burst and baseline."""

    reference: str
    secondary: str
    unit: str
    reference_date: str
    secondary_date: str
    baseline_days: float


def plan_pairs(source: SlcSource) -> list[PairPlan]:
    """Every pair of ``source``: dates of one burst/stack within the baseline, plus explicit pairs.

    Opens each file once for its burst, date and grid, and refuses pairs of two
    bursts, two grids or dates out of order (one line naming the files).
    """
    plans: dict[tuple[str, str], PairPlan] = {}

    def add(ref: SlcFile, sec: SlcFile) -> None:
        check_pair(ref, sec)
        days = round((sec.date - ref.date).total_seconds() / 86400.0, 1)
        plans[(str(ref.path), str(sec.path))] = PairPlan(
            str(ref.path),
            str(sec.path),
            ref.unit,
            f"{ref.date:%Y-%m-%d}",
            f"{sec.date:%Y-%m-%d}",
            days,
        )

    stacks: dict[str, list[SlcFile]] = defaultdict(list)
    for pattern in source.files:
        for path in expand_slc_paths(pattern, source.polarizations):
            opened = open_slc(source, path)
            opened.close()
            stacks[opened.unit].append(opened)
    for files in stacks.values():
        files.sort(key=lambda f: f.date)
        for i, ref in enumerate(files):
            for sec in files[i + 1 :]:
                days = (sec.date - ref.date).total_seconds() / 86400.0
                if 0 < days <= source.max_baseline_days + 1e-6:
                    add(ref, sec)
    for pair in source.pairs:
        ref, sec = open_slc(source, pair.reference), open_slc(source, pair.secondary)
        ref.close()
        sec.close()
        add(ref, sec)
    return sorted(plans.values(), key=lambda p: (p.unit, p.reference_date, p.secondary_date))


def _stat(path: str, source: SlcSource) -> list[Any]:
    file = Path(path.replace(POL, source.polarizations[0]))
    stat = file.stat()
    return [str(file), stat.st_size, stat.st_mtime_ns]


def pair_key(plan: PairPlan, source: SlcSource, patch_px: int, seed: int) -> str:
    """Cache key: both files as they are now and every setting that changes the patches."""
    settings = source.model_dump(
        mode="json", exclude={"weight", "max_baseline_days", "files", "pairs"}
    )
    spec = {
        "reference": _stat(plan.reference, source),
        "secondary": _stat(plan.secondary, source),
        "settings": settings,
        "patch_px": patch_px,
        "seed": seed,
        "format": CACHE_FORMAT,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def extract_pair(
    plan: PairPlan, source: SlcSource, patch_px: int, seed: int, store: Path, progress: bool = True
) -> int:
    """Extract one pair's patches into the Zarr ``store``; returns the patch count."""
    # GDAL's block cache would otherwise grow to 5 % of the machine's memory on a burst.
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return _extract_pair(plan, source, patch_px, seed, store, progress)


def _extract_pair(
    plan: PairPlan, source: SlcSource, patch_px: int, seed: int, store: Path, progress: bool
) -> int:
    reference, secondary = open_slc(source, plan.reference), open_slc(source, plan.secondary)
    partial = store.with_name(store.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        geometry = geometry_for(
            reference.grid, source.multilook_window_m, source.coherence_window_m
        )
        layout = output_layout(reference.grid, geometry, source.max_misregistration_px)
        rng = np.random.default_rng(
            [seed, zlib.crc32(f"{plan.reference}|{plan.secondary}".encode())]
        )
        offset = random_offset(source.max_misregistration_px, rng)
        group = zarr.open_group(partial, mode="w")
        db_array = group.create_array(
            "backscatter_db",
            shape=(0, 4, patch_px, patch_px),
            chunks=(64, 4, patch_px, patch_px),
            dtype="float16",
        )
        target_array = group.create_array(
            "target",
            shape=(0, patch_px, patch_px),
            chunks=(64, patch_px, patch_px),
            dtype="float32",
        )
        centre_array = group.create_array("centre", shape=(0, 2), chunks=(4096, 2), dtype="float64")
        strips = detected_strips(
            reference, secondary, source.polarizations, geometry, layout, offset, patch_px
        )
        total = -(-layout.shape[0] // patch_px)
        name = Path(plan.secondary).name
        centre_crs = ""
        for strip in tqdm(
            strips, total=total, desc=f"extract {name}", disable=not progress, leave=False
        ):
            found = list(strip_patches(strip, patch_px, source.min_valid_fraction))
            if not found:
                continue
            db_array.append(np.stack([f[2] for f in found]).astype(np.float16), axis=0)
            target_array.append(np.stack([f[3] for f in found]), axis=0)
            centres = []
            for row, col, _, _ in found:
                # Output pixel centre -> sample position (rows down, columns right).
                down = (row + patch_px / 2) * 10.0 - layout.origin_m[0]
                right = (col + patch_px / 2) * 10.0 - layout.origin_m[1]
                x, y, centre_crs = reference.position(
                    down / geometry.slc_spacing_m[0], right / geometry.slc_spacing_m[1]
                )
                centres.append((x, y))
            centre_array.append(np.asarray(centres, dtype=np.float64), axis=0)
        group.attrs.update(
            {
                **vars(plan),
                "offset_px": list(offset),
                "centre_crs": centre_crs,
                "polarizations": list(source.polarizations),
                "output_shape": list(layout.shape),
                "coherence_looks": float(geometry.coherence_looks),
            }
        )
        count = int(target_array.shape[0])
    finally:
        reference.close()
        secondary.close()
    if store.exists():  # another run finished the same pair meanwhile: same key, same patches
        shutil.rmtree(partial)
    else:
        partial.rename(store)
    return count


@dataclass
class RealPatches:
    """Patches of real pairs with what a split and a report need, ``N`` patches."""

    patches: PatchSet
    baseline_days: NDArray[np.float32]
    units: list[str]
    centres: NDArray[np.float64]
    centre_crs: list[str]
    pairs: list[PairPlan]
    pair_of: NDArray[np.int32]
    coherence_looks: NDArray[np.float32]


def _read_store(store: Path) -> RealPatches:
    group = zarr.open_group(store, mode="r")
    attrs: dict[str, Any] = dict(group.attrs)

    def read(name: str) -> NDArray[Any]:
        array = group[name]
        assert isinstance(array, zarr.Array)
        return np.asarray(array[...])

    target = read("target").astype(np.float32, copy=False)
    n = target.shape[0]
    plan = PairPlan(**{k: attrs[k] for k in PairPlan.__dataclass_fields__})
    return RealPatches(
        patches=PatchSet(
            backscatter_db=read("backscatter_db"),
            target=target,
            truth=np.full_like(target, np.nan),
            land_cover=np.full(target.shape, -1, dtype=np.int8),
            changed=np.zeros(target.shape, dtype=bool),
        ),
        baseline_days=np.full(n, plan.baseline_days, dtype=np.float32),
        units=[plan.unit] * n,
        centres=read("centre"),
        centre_crs=[str(attrs["centre_crs"])] * n,
        pairs=[plan],
        pair_of=np.zeros(n, dtype=np.int32),
        coherence_looks=np.full(n, attrs["coherence_looks"], dtype=np.float32),
    )


def concatenate_real(parts: list[RealPatches]) -> RealPatches:
    if len(parts) == 1:
        return parts[0]
    return RealPatches(
        patches=concatenate([p.patches for p in parts]),
        baseline_days=np.concatenate([p.baseline_days for p in parts]),
        units=[u for p in parts for u in p.units],
        centres=np.concatenate([p.centres.reshape(-1, 2) for p in parts]),
        centre_crs=[c for p in parts for c in p.centre_crs],
        pairs=[q for p in parts for q in p.pairs],
        pair_of=np.concatenate(
            [p.pair_of + sum(len(q.pairs) for q in parts[:k]) for k, p in enumerate(parts)]
        ).astype(np.int32),
        coherence_looks=np.concatenate([p.coherence_looks for p in parts]),
    )


def source_patches(
    source: SlcSource, patch_px: int, seed: int, cache_dir: Path, progress: bool = True
) -> RealPatches:
    """All patches of ``source`` (extracted now or read from the cache)."""
    plans = plan_pairs(source)
    if not plans:
        raise SlcPairError(
            f"the {source.kind} source pairs nothing: no two dates of one burst within "
            f"{source.max_baseline_days:g} days among {source.files or source.pairs}"
        )
    folder = cache_dir / "slc-patches"
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    todo = [(p, folder / f"{pair_key(p, source, patch_px, seed)}.zarr") for p in plans]
    missing = [t for t in todo if not t[1].exists()]
    if missing:
        log.info(
            "extracting %d of %d %s pairs into %s", len(missing), len(todo), source.kind, folder
        )
    for plan, store in tqdm(missing, desc="SLC pairs", disable=not progress or len(missing) < 2):
        count = extract_pair(plan, source, patch_px, seed, store, progress)
        log.info(
            "%s -> %s: %d patches (%g days)",
            plan.reference,
            plan.secondary,
            count,
            plan.baseline_days,
        )
    for _, store in todo:
        parts.append(_read_store(store))
    return concatenate_real(parts)


def _share(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) / 16**12


def assign_splits(real: RealPatches, split: SplitConfig) -> NDArray[np.int8]:
    """Split of every patch (0 train, 1 validation, 2 test): whole bursts or ground blocks."""
    out = np.zeros(len(real.units), dtype=np.int8)
    for i, unit in enumerate(real.units):
        if split.by == "burst":
            if unit in split.test_units:
                out[i] = 2
                continue
            if unit in split.validation_units:
                out[i] = 1
                continue
            if split.test_units or split.validation_units:
                continue
            key = f"burst:{unit}"
        else:
            x, y = real.centres[i]
            key = f"block:{real.centre_crs[i]}:{int(x // split.block_m)}:{int(y // split.block_m)}"
        u = _share(key)
        out[i] = 2 if u < split.test else 1 if u < split.test + split.validation else 0
    return out


def subset(real: RealPatches, mask: NDArray[np.bool_]) -> RealPatches:
    """The patches of ``real`` where ``mask`` holds."""
    p = real.patches
    index = np.flatnonzero(mask)
    kept = np.unique(real.pair_of[index])
    return RealPatches(
        patches=PatchSet(
            p.backscatter_db[index],
            p.target[index],
            p.truth[index],
            p.land_cover[index],
            p.changed[index],
        ),
        baseline_days=real.baseline_days[index],
        units=[real.units[i] for i in index],
        centres=real.centres[index],
        centre_crs=[real.centre_crs[i] for i in index],
        pairs=[real.pairs[k] for k in kept],
        pair_of=np.searchsorted(kept, real.pair_of[index]).astype(np.int32),
        coherence_looks=real.coherence_looks[index],
    )


def split_patches(
    source: SlcSource,
    split: SplitConfig,
    patch_px: int,
    seed: int,
    cache_dir: Path,
    progress: bool = True,
) -> dict[str, RealPatches]:
    """``{train, validation, test}`` patches of ``source`` split per ``split``."""
    real = source_patches(source, patch_px, seed, cache_dir, progress)
    assigned = assign_splits(real, split)
    return {name: subset(real, assigned == k) for k, name in enumerate(SPLIT_NAMES)}


def describe_split(parts: dict[str, RealPatches], source: SlcSource) -> dict[str, Any]:
    """The split in words and counts, for the card's training-data description."""
    return {
        "kind": source.kind,
        "weight": source.weight,
        **{
            name: {
                "units": sorted(set(part.units)),
                "pairs": len(part.pairs),
                "patches": len(part.units),
                "baselines_days": sorted({float(b) for b in part.baseline_days}),
            }
            for name, part in parts.items()
        },
    }
