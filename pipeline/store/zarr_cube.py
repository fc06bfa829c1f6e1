"""The Zarr coherence cube: region-by-region, resumable, appendable, readers see whole pairs.

Layout (Zarr v3): ``coherence`` and ``coherence_sigma`` ``(pair, y, x)`` float32,
one pair per shard so a write never touches a finished pair; shards of
``shard_px``^2 hold inner chunks of ``chunk_px``^2, so a per-pixel time series
reads one small inner chunk per pair while maps read whole shards.

Writing a batch of new pairs:
1. *plan*: pairs already in the cube are skipped; the batch (its pair ids and
   first index) is recorded in the group attributes;
2. *compute*: every (pair block, tile) region is inferred and written to the
   arrays beyond their committed shape, then marked in a completion array
   (one Zarr chunk per region, so workers never write the same object);
3. *commit*: once every region is marked, the arrays' shape grows to include
   the batch -- the moment readers see the new pairs, all complete.
A crash anywhere leaves the cube as it was; re-running resumes at step 2 and
recomputes only unmarked regions.
"""

from __future__ import annotations

import logging
import math
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
import zarr

from cohcube.model.errors import StoreError

from .creation import being_created, creation_cut_off, mark_created, remove_cube
from .lock import store_lock
from .regions import (
    RegionCallback,
    beyond,
    compute_regions,
    open_for_writing,
    region_writes,
    regions_in_flight,
)
from .schema import (
    DATA_VARS,
    FORMAT,
    FORMAT_VERSION,
    PAIR_COORDS,
    cube_encoding,
    empty_cube,
    encoded_pair_coords,
)

log = logging.getLogger(__name__)

DONE_PREFIX = "_cohcube_done_"


@dataclass(frozen=True)
class StoreLayout:
    """Chunking of the data arrays.

    Attributes:
        shard_px: spatial side of a write region (inference tiles match it), and
            of a shard when ``sharded``; 2048 px: interior halos cost 1.2x the pixels
            (1.41x at 1024 px) for ~2 GB of activations per forward pass (fp32, w16).
        chunk_px: spatial side of a chunk (the unit of partial reads).
        sharded: group the chunks of a pair's region into one shard object
            (fewer objects; needs readers with the sharding codec, GDAL >= 3.11).
        consolidated: keep consolidated metadata, rewritten at every plan and
            commit, so a plain ``xarray.open_zarr`` opens the cube in one request
            and without a warning (not part of the Zarr v3 spec, but read by
            zarr-python and xarray; off for readers that do not know it).
        zarr_format: 3 (default) or 2; GDAL reads zarr-python's v3 output from
            GDAL 3.11 on, v2 from much earlier (rasterio wheels ship GDAL 3.10).
    """

    shard_px: int = 2048
    chunk_px: int = 256
    sharded: bool = False
    consolidated: bool = True
    zarr_format: int = 3

    @classmethod
    def for_tiles(cls, tile_px: int) -> StoreLayout:
        """The default layout fitted to tiles of ``tile_px``: a tile is at most one write
        region, and the chunk side divides it (at most the default 256 px)."""
        shard = min(cls.shard_px, tile_px)
        return cls(shard_px=shard, chunk_px=math.gcd(shard, cls.chunk_px))

    def __post_init__(self) -> None:
        if self.zarr_format not in (2, 3):
            raise StoreError(f"zarr_format must be 2 or 3, got {self.zarr_format}")
        if self.sharded and self.zarr_format == 2:
            raise StoreError("sharding needs zarr_format 3")
        if self.shard_px % self.chunk_px:
            raise StoreError(
                f"shard_px {self.shard_px} must be a multiple of chunk_px {self.chunk_px}"
            )


@dataclass
class WriteReport:
    """What a write did."""

    new_pairs: list[str]
    skipped_pairs: list[str]
    regions_total: int = 0
    regions_computed: int = 0


def committed_pairs(url: str | Path) -> set[str]:
    """Pair ids a cube holds (empty if there is no cube at ``url``)."""
    if not is_coherence_cube(str(url)):
        return set()
    return _pair_ids(zarr.open_group(str(url), mode="r"))


def _pair_ids(group: zarr.Group) -> set[str]:
    return {str(v) for v in np.asarray(group["pair"][:])}  # type: ignore[index]


def store_format(url: str) -> str | None:
    """The ``cohcube:format`` marker of the Zarr group at ``url`` (None: no group, no marker)."""
    try:
        group = zarr.open_group(url, mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError):
        return None
    marker = group.attrs.get("cohcube:format")
    return marker if isinstance(marker, str) else None


def is_coherence_cube(url: str) -> bool:
    return store_format(url) == FORMAT


def _consolidated(url: str) -> bool:
    group = zarr.open_group(url, mode="r")
    return group.metadata.consolidated_metadata is not None


def open_coherence_cube(url: str | Path) -> xr.Dataset:
    """Open a coherence cube lazily: committed pairs only, CRS through rioxarray."""
    dataset = xr.open_zarr(str(url), consolidated=_consolidated(str(url)), decode_coords="all")
    dataset = dataset.drop_vars([v for v in dataset.variables if str(v).startswith(DONE_PREFIX)])
    return dataset


def _check_compatible(group: zarr.Group, url: str, dataset: xr.Dataset) -> None:
    attrs = group.attrs
    if attrs.get("cohcube:format_version") != FORMAT_VERSION:
        raise StoreError(
            f"{url} is a cohcube cube of format version "
            f"{attrs.get('cohcube:format_version')}; this cohcube writes version "
            f"{FORMAT_VERSION}: write to a new store"
        )
    if attrs.get("model_sha256") != dataset.attrs.get("model_sha256"):
        made_with = str(attrs.get("model_sha256"))[:12]
        raise StoreError(
            f"{url} was made with model {attrs.get('model_name')} ({made_with}); this job uses "
            f"{dataset.attrs.get('model_name')}: write to a new store"
        )
    existing = xr.open_zarr(url, consolidated=_consolidated(url))
    for axis in ("y", "x"):
        if existing.sizes[axis] != dataset.sizes[axis] or not np.allclose(
            existing[axis].values, dataset[axis].values
        ):
            raise StoreError(
                f"{url} holds a different grid ({axis} differs); write this region to its own store"
            )


def _remove_partial_writes(root: Path) -> None:
    """Drop temporary files a killed writer left (zarr writes ``*.partial`` then renames).

    Safe because the caller holds the store lock: no other writer is active.
    """
    if root.exists():
        for leftover in root.rglob("*.partial"):
            leftover.unlink(missing_ok=True)


def _create_cube(url: str, dataset: xr.Dataset, layout: StoreLayout) -> None:
    """Write the empty cube; it becomes a cohcube cube (its format marker) only once every
    coordinate is written, so a creation cut off by a kill is recognised and redone."""
    template = empty_cube(dataset, layout.zarr_format)
    template.attrs = being_created(template.attrs)
    template.to_zarr(
        url,
        mode="w-",
        zarr_format=layout.zarr_format,
        encoding=cube_encoding(dataset, layout.shard_px, layout.chunk_px, layout.sharded),
        consolidated=False,
        compute=True,
    )
    mark_created(open_for_writing(url))
    _publish_metadata(url, layout)
    log.info("created coherence cube %s", url)


def _pair_count(group: zarr.Group) -> int:
    pair = group["pair"]
    assert isinstance(pair, zarr.Array)
    return int(pair.shape[0])


def _publish_metadata(url: str, layout: StoreLayout) -> None:
    """Rewrite the consolidated metadata (what plain ``xarray.open_zarr`` reads).

    Called after every change of the group's metadata (creation, plan,
    abandon, commit): data written beyond the committed shape changes no
    metadata, so the consolidated view always shows committed pairs only.
    """
    if not layout.consolidated:
        return
    with warnings.catch_warnings():
        # Chosen knowingly (see StoreLayout.consolidated); zarr-python warns on every write.
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(url)


def _plan_batch(
    group: zarr.Group,
    url: str,
    subset: xr.Dataset,
    batch: dict[str, Any],
    shape: tuple[int, int, int],
    layout: StoreLayout,
) -> None:
    """Record the batch and its completion marks; its coordinates go beyond the committed shape."""
    start, length = int(batch["start"]), int(batch["start"]) + len(batch["pairs"])
    for name, values in encoded_pair_coords(subset).items():
        beyond(group[name], length)[start:length] = values  # type: ignore[arg-type]
    dims = ("_pair_block", "_tile_y", "_tile_x")
    marks_array = group.create_array(
        f"{DONE_PREFIX}{batch['id']}",
        shape=shape,
        chunks=(1, 1, 1),
        dtype="uint8",
        fill_value=0,
        dimension_names=dims if group.metadata.zarr_format == 3 else None,
    )
    if group.metadata.zarr_format == 2:
        marks_array.attrs["_ARRAY_DIMENSIONS"] = list(dims)
    group.attrs["cohcube:pending"] = batch
    _publish_metadata(url, layout)


def _forget_batch(group: zarr.Group, url: str, batch_id: str, layout: StoreLayout) -> None:
    """Drop a batch's completion marks and pending record (after commit, or to abandon it)."""
    done = f"{DONE_PREFIX}{batch_id}"
    if done in group:
        del group[done]
    del group.attrs["cohcube:pending"]
    _publish_metadata(url, layout)


def write_coherence(
    dataset: xr.Dataset,
    url: str | Path,
    layout: StoreLayout | None = None,
    on_region: RegionCallback | None = None,
    *,
    client: Any = None,
) -> WriteReport:
    """Add the pairs of a lazy coherence dataset (``predict_coherence``) to the cube at ``url``.

    Creates the cube if needed; skips pairs already committed; resumes a batch
    an earlier run left unfinished; computes only regions not yet marked done.
    The dataset's spatial chunks must be the layout's ``shard_px`` (the last may be longer).
    ``on_region`` is called on the driver as each region is written (progress);
    ``client`` is the Dask client to compute on (default: the current one, else dask's
    current scheduler), which must still be open.
    """
    layout = layout or StoreLayout()
    url = str(url)
    with store_lock(url):
        local = "://" not in url
        if creation_cut_off(url):
            log.warning("%s: removing a cube whose creation an earlier run did not finish", url)
            remove_cube(url)
        if local and Path(url).exists() and not is_coherence_cube(url):
            raise StoreError(
                f"{url} exists and is not a cohcube coherence cube; choose "
                "another output path (refusing to overwrite it)"
            )
        if local:
            _remove_partial_writes(Path(url))
        if not is_coherence_cube(url):
            _create_cube(url, dataset, layout)
        group = open_for_writing(url)
        _check_compatible(group, url, dataset)
        committed = _pair_ids(group)
        wanted = [str(p) for p in dataset["pair"].values]
        report = WriteReport(new_pairs=[], skipped_pairs=[p for p in wanted if p in committed])
        pending: dict[str, Any] | None = group.attrs.get("cohcube:pending")  # type: ignore[assignment]
        if pending:
            missing = [p for p in pending["pairs"] if p not in wanted]
            if missing:
                # Never visible to readers, so dropping it loses nothing committed; the
                # next batch starts at the committed length and overwrites its regions.
                log.warning(
                    "%s: abandoning unfinished batch %s (%d pairs, %d of them not produced by "
                    "this job, e.g. %s)",
                    url,
                    pending["id"],
                    len(pending["pairs"]),
                    len(missing),
                    missing[0],
                )
                _forget_batch(group, url, pending["id"], layout)
            else:
                _run_batch(group, url, dataset, pending, layout, report, on_region, client)
                committed |= set(pending["pairs"])
        todo = [p for p in wanted if p not in committed]
        if todo:
            batch = {
                "id": uuid.uuid4().hex[:12],
                "start": _pair_count(group),
                "pairs": todo,
            }
            _run_batch(group, url, dataset, batch, layout, report, on_region, client)
        return report


def _run_batch(
    group: zarr.Group,
    url: str,
    dataset: xr.Dataset,
    batch: dict[str, Any],
    layout: StoreLayout,
    report: WriteReport,
    on_region: RegionCallback | None,
    client: Any,
) -> None:
    subset = dataset.sel(pair=batch["pairs"])
    start, count = int(batch["start"]), len(batch["pairs"])
    length = start + count
    done = f"{DONE_PREFIX}{batch['id']}"
    pair_chunks = subset["coherence"].data.chunks[0]
    y_chunks, x_chunks = subset["coherence"].data.chunks[1:]
    shape = (len(pair_chunks), len(y_chunks), len(x_chunks))
    if "cohcube:pending" not in group.attrs:
        _plan_batch(group, url, subset, batch, shape, layout)
    marks = np.asarray(group[done][:])  # type: ignore[index]
    blocks = da.stack([subset["coherence"].data, subset["coherence_sigma"].data], axis=1)
    tasks = region_writes(blocks, marks, url, start, done, length)
    report.regions_total += int(np.prod(shape))
    report.regions_computed += len(tasks)
    log.info(
        "batch %s: %d pairs, %d of %d regions to compute",
        batch["id"],
        count,
        len(tasks),
        int(np.prod(shape)),
    )
    compute_regions(tasks, on_region, client=client, in_flight=regions_in_flight(shape))
    if not np.asarray(group[done][:]).all():  # type: ignore[index]
        raise StoreError(f"{url}: some regions of batch {batch['id']} were not written; re-run")
    _note_precision(group, subset.attrs.get("inference_precision"), start)
    # Commit: publish the new length of every pair-indexed array, then forget the batch.
    for name in (*DATA_VARS, *PAIR_COORDS):
        array = group[name]
        assert isinstance(array, zarr.Array)
        array.resize((length, *array.shape[1:]))
    _forget_batch(group, url, batch["id"], layout)
    report.new_pairs.extend(batch["pairs"])
    log.info("committed %d pairs to %s", count, url)


def _note_precision(group: zarr.Group, precision: str | None, start: int) -> None:
    """Keep ``inference_precision`` true when a later batch ran at another precision."""
    held = group.attrs.get("inference_precision")
    if precision and held is not None and str(held).split("; ")[-1].split(" from ")[0] != precision:
        group.attrs["inference_precision"] = f"{held}; {precision} from pair {start}"
