"""Chunked coherence inference: ``dask.array.map_overlap`` with a halo, seam-free.

The graph carries only the model card's path and sha256; each worker process
loads the TorchScript artefact once (verified against its card) into a
process cache and reuses it for every block. Chunks start on the model's size
multiple and the halo is a multiple of it, so every block sees the pooling
grid of the whole image; blocks at the image border are padded exactly as
whole-image prediction pads them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from distributed.diagnostics.plugin import WorkerPlugin
from numpy.typing import NDArray

from cohcube.model.errors import InputDataError
from cohcube.model.learning.artefact import CoherenceModel, load_model
from cohcube.model.learning.card import ModelCard, card_path_for, read_card
from cohcube.model.learning.preprocessing import InputContract, network_input

from .grid import spatial_chunks
from .pairs import acquisitions, check_same_track
from .store.schema import pair_coords

log = logging.getLogger(__name__)

_CACHE: dict[tuple[str, str], CoherenceModel] = {}
_CACHE_LOCK = threading.Lock()
# One forward pass at a time per worker process, using all the worker's threads: the
# worker's other threads read and decode the next region's inputs and encode the last
# region's output meanwhile, instead of two forward passes halving each other's cores.
_FORWARD_LOCK = threading.Lock()


def worker_device(cuda_available: bool, visible_devices: str | None = None) -> str:
    """Device for this worker: its (first visible) GPU if CUDA is usable, else the CPU.

    dask-cuda gives each worker one GPU through ``CUDA_VISIBLE_DEVICES``, so
    ``cuda:0`` is that worker's own GPU.
    """
    if not cuda_available or visible_devices == "":
        return "cpu"
    return "cuda:0"


def worker_threads() -> int | None:
    """Threads of the Dask worker running this code (None outside a distributed worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError):
        return None


def _this_device() -> str:
    import torch

    return worker_device(torch.cuda.is_available(), os.environ.get("CUDA_VISIBLE_DEVICES"))


def cached_model(
    card_path: str, sha256: str, precision: str = "fp32", threads: int | None = None
) -> CoherenceModel:
    """The model of ``card_path`` at ``precision``, loaded once per process, checked against
    ``sha256``; torch gets ``threads`` (default: the Dask worker's threads). Cached by the
    precision it resolves to, so ``auto`` and the precision it picks share one model (the
    card is read only on a miss: this runs for every block)."""
    with _CACHE_LOCK:
        asked = (sha256, precision)
        model = _CACHE.get(asked)
        if model is None:
            precision = resolved_precision(precision, card_path)
            model = _CACHE.get((sha256, precision))
        if model is None:
            import torch

            threads = threads or worker_threads()
            if threads is not None:
                torch.set_num_threads(threads)
            device = _this_device()
            model = load_model(card_path, device=device, precision=precision)
            if model.sha256 != sha256:
                raise InputDataError(
                    f"model {card_path} changed since the job was planned (sha256 "
                    f"{model.sha256[:12]} != {sha256[:12]}); restart the job"
                )
            _CACHE[(sha256, precision)] = model
            log.info(
                "loaded model %s on %s at %s (pid %d)",
                model.name,
                device,
                model.precision,
                os.getpid(),
            )
        _CACHE[asked] = model
    return model


def resolved_precision(requested: str, card_path: str | Path | None = None) -> str:
    """What ``requested`` resolves to for the model of ``card_path`` on this process's device."""
    import torch

    from cohcube.model.learning.precision import device_capability, resolve_precision

    capability = device_capability(torch.device(_this_device()))
    return resolve_precision(requested, capability, read_card(card_path).precision_parity)


def precision_in_use(requested: str, card_path: str | Path | None = None) -> str:
    """What ``requested`` resolves to where inference runs: on the workers of the current
    Dask client (``"fp32"``, or ``"bf16 on 2 workers, fp32 on 1"`` for a mixed fleet), else
    on this process's device."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        return resolved_precision(requested, card_path)
    path = None if card_path is None else str(Path(card_path).resolve())
    found = list(client.run(resolved_precision, requested, path).values())
    if not found:
        return resolved_precision(requested, card_path)
    counts = {p: found.count(p) for p in sorted(set(found))}
    if len(counts) == 1:
        return found[0]
    return ", ".join(f"{p} on {n} worker{'s' if n > 1 else ''}" for p, n in counts.items())


class ModelWarmup(WorkerPlugin):
    """Loads the job's model into each worker when it joins (before its first task), so
    model load and freeze happen once per worker at cluster start, not inside the tiles."""

    def __init__(self, card_path: str, sha256: str, precision: str) -> None:
        self.card_path, self.sha256, self.precision = card_path, sha256, precision
        self.name = f"cohcube-model-{sha256[:12]}-{precision}"

    def setup(self, worker: Any) -> None:
        # Ctrl-C in a terminal reaches the whole process group: the driver stops the job
        # and closes the cluster; a worker dying of the signal first would only be
        # restarted by its nanny and log over the driver's last line.
        with contextlib.suppress(ValueError):  # not the worker's main thread
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        cached_model(self.card_path, self.sha256, self.precision, threads=worker.state.nthreads)


def warm_workers(client: Any, card_path: str | Path, sha256: str, precision: str) -> str:
    """Load the model on every worker of ``client`` (and on workers that join later);
    returns the precision the workers run at (``precision_in_use``).

    Raises:
        InputDataError: a worker cannot load the model (one line naming the path).
    """
    plugin = ModelWarmup(str(Path(card_path).resolve()), sha256, precision)
    try:
        client.register_plugin(plugin)
    except Exception as exc:  # the worker's own error, re-raised by distributed
        raise InputDataError(
            f"a Dask worker could not load the model {card_path}: {str(exc).splitlines()[0]} "
            "(the artefact must be readable at that path by every worker)"
        ) from None
    chosen = precision_in_use(precision, card_path)
    log.info("workers loaded model %s at precision %s (asked: %s)", card_path, chosen, precision)
    return chosen


def infer_block(
    block: NDArray[np.float32],
    *,
    card_path: str,
    sha256: str,
    halo: int,
    precision: str = "fp32",
    block_info: dict[Any, Any] | None = None,
) -> NDArray[np.float32]:
    """(pairs, channels, h + halos, w + halos) raw backscatter -> (pairs, 2, h, w)."""
    assert block_info is not None
    (y0, y1), (x0, x1) = block_info[None]["array-location"][2:]
    top, left = (halo if y0 > 0 else 0), (halo if x0 > 0 else 0)
    model = cached_model(card_path, sha256, precision)
    contract = model.contract
    n_pol = len(contract.polarizations)
    stacked = []
    masks = []
    for pair in block:
        reference, secondary = pair[0::2], pair[1::2]
        channels, valid = network_input(reference[:n_pol], secondary[:n_pol], contract)
        stacked.append(channels)
        masks.append(valid)
    inputs = np.stack(stacked)
    if model.device.type == "cpu":
        # One pair per call on a CPU: the same throughput as batches (0.291 vs 0.287 Mpx/s
        # at 1024 px, 2 threads) for a batch's share of the activation memory.
        with _FORWARD_LOCK:
            out = np.concatenate([model.forward_channels(x[None]) for x in inputs])
    else:
        out = model.forward_channels(inputs)
    out[~np.stack(masks)[:, None].repeat(2, axis=1)] = np.nan
    return out[:, :, top : top + (y1 - y0), left : left + (x1 - x0)]


def _channels(cube: xr.DataArray, pairs: pd.DataFrame, contract: InputContract) -> da.Array:
    bands = [str(b).upper() for b in cube["band"].values]
    missing = [p for p in contract.polarizations if p not in bands]
    if missing:
        raise InputDataError(
            f"the model needs polarisation(s) {missing} but the cube has {bands}; build the "
            "cube with those bands"
        )
    index = [bands.index(p) for p in contract.polarizations]
    data = cube.data
    ref = data[pairs["reference_index"].to_numpy()][:, index]
    sec = data[pairs["secondary_index"].to_numpy()][:, index]
    planes = [p for k in range(len(index)) for p in (ref[:, k], sec[:, k])]
    return da.stack(planes, axis=1)


def _overlapped_inference(
    channels: da.Array,
    card_path: Path,
    card: ModelCard,
    halo: int,
    chunk: int,
    pair_batch: int,
    precision: str,
    margin: int = 0,
) -> da.Array:
    """``(pairs, channels, y, x)`` backscatter -> lazy ``(pairs, 2, y, x)`` coherence and sigma
    (the outer ``margin`` px are chunks of their own: context, never output)."""
    _, _, ny, nx = channels.shape
    spatial = spatial_chunks((ny, nx), chunk, margin, halo, card.input.size_multiple)
    channels = channels.rechunk((pair_batch, -1, *spatial))
    out_chunks = (channels.chunks[0], (2,), channels.chunks[2], channels.chunks[3])
    return da.map_overlap(
        infer_block,
        channels,
        depth={0: 0, 1: 0, 2: halo, 3: halo},
        boundary="none",
        trim=False,
        allow_rechunk=False,
        dtype=np.float32,
        chunks=out_chunks,
        meta=np.empty((0, 0, 0, 0), dtype=np.float32),
        card_path=str(card_path.resolve()),
        sha256=card.artefact.sha256,
        halo=halo,
        precision=precision,
    )


def _input_quantity(cube: xr.DataArray, model_name: str, trained_on: str) -> str:
    """The cube's backscatter quantity; warns when the model was trained on another."""
    quantity = str(cube.attrs.get("quantity", trained_on))
    if quantity != trained_on:
        log.warning(
            "model %s was trained on %s but the cube holds %s; its coherence will be biased "
            "where the two differ (terrain slopes): use a model trained on %s (e.g. the "
            "paper's imported weights for GRD sigma0) or an RTC collection",
            model_name,
            trained_on,
            quantity,
            quantity,
        )
    return quantity


def predict_coherence(
    cube: xr.DataArray,
    pairs: pd.DataFrame,
    model: str | Path | None = None,
    *,
    halo: int | None = None,
    chunk: int | None = None,
    pair_batch: int = 4,
    precision: str = "fp32",
    margin_px: int = 0,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Lazy coherence of ``pairs`` of ``cube``.

    Args:
        cube: ``(time, band, y, x)`` linear backscatter from ``build_cube``.
        pairs: pair table from ``select_pairs`` (indices into ``cube.time``).
        model: model card or TorchScript path (default: the shipped model).
        halo: overlap in pixels (default: the card's recommended halo).
        chunk: spatial chunk in pixels (default: the cube's), rounded up to
            the model's size multiple.
        pair_batch: pairs per block (one forward call on a GPU, as memory allows).
        precision: ``fp32``, ``bf16``, ``fp16`` or ``auto`` (each worker picks what its
            device computes natively); recorded in the attributes as resolved.
        margin_px: the cube's outer ring of this width is context only (a tile's
            neighbours' ground): read for the halo of the pixels inside, never output;
            at least the halo so those pixels see what whole-area inference sees.
        attrs: extra dataset attributes (e.g. input collection).

    Returns:
        Dataset with ``coherence`` and ``coherence_sigma`` ``(pair, y, x)`` float32
        (NaN where an input is NaN; sigma rescaled for each pair's temporal
        baseline when the card is calibrated per baseline) and per-pair coordinates.
    """
    if pairs.empty:
        raise InputDataError("no pairs to process; check the pair policy and the time range")
    check_same_track(acquisitions(cube), pairs)
    card_path = card_path_for(model)
    card = read_card(card_path)
    contract = card.input
    quantity = _input_quantity(cube, card.name, contract.quantity)
    multiple = contract.size_multiple
    halo = card.tiling.recommended_halo_px if halo is None else halo
    halo = math.ceil(halo / multiple) * multiple
    chunk = int(chunk or (cube.chunks[2][0] if cube.chunks else 1024))
    chunk = math.ceil(chunk / multiple) * multiple
    if margin_px and (margin_px < halo or margin_px % multiple):
        raise InputDataError(
            f"margin_px {margin_px} must be a multiple of {multiple} and at least the halo "
            f"{halo} px of model {card.name}"
        )
    if margin_px and min(cube.sizes["y"], cube.sizes["x"]) <= 2 * margin_px:
        raise InputDataError(
            f"the cube {dict(cube.sizes)} has no pixels inside {margin_px} px margins"
        )
    result = _overlapped_inference(
        _channels(cube, pairs, contract),
        card_path,
        card,
        halo,
        chunk,
        pair_batch,
        precision,
        margin_px,
    )
    inner = (
        slice(margin_px, cube.sizes["y"] - margin_px),
        slice(margin_px, cube.sizes["x"] - margin_px),
    )
    result = result[:, :, inner[0], inner[1]]
    # The artefact's sigma is calibrated at its training baseline; the card may rescale it per
    # pair. A model without a calibrated sigma (an imported one) gets NaN: never a made-up sigma.
    if card.output.calibrated_sigma:
        days = pairs["temporal_baseline_days"]
        sigma_factors = np.array([card.sigma_factor(float(d)) for d in days], dtype=np.float32)
    else:
        sigma_factors = np.full(len(pairs), np.nan, dtype=np.float32)
    dataset = xr.Dataset(
        {
            "coherence": (("pair", "y", "x"), result[:, 0]),
            "coherence_sigma": (("pair", "y", "x"), result[:, 1] * sigma_factors[:, None, None]),
        },
        coords=pair_coords(pairs)
        | {"y": cube["y"].values[inner[0]], "x": cube["x"].values[inner[1]]},
    )
    dataset = dataset.rio.write_crs(cube.rio.crs)
    dataset.attrs = {
        "software": f"cohcube {version('cohcube')}",
        "model_name": card.name,
        "model_sha256": card.artefact.sha256,
        "preprocessing": (
            f"linear {contract.quantity} -> dB -> clip {list(contract.db_range)} "
            f"-> [0, 1]; channels {list(contract.channel_order)}"
        ),
        "polarizations": list(contract.polarizations),
        "input_quantity": quantity,
        **({"input_geocoding": cube.attrs["geocoding"]} if "geocoding" in cube.attrs else {}),
        "halo_px": halo,
        "inference_precision": precision_in_use(precision, card_path),
        "coherence_sigma": "calibrated"
        if card.output.calibrated_sigma
        else (f"not available: {card.name} has no calibrated uncertainty (all NaN)"),
        **(attrs or {}),
    }
    return dataset
