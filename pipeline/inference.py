"""Chunked coherence inference: ``dask.array.map_overlap`` with a halo, seam-free.

The graph carries only the model card's path and sha256; each worker process
loads the TorchScript artefact once (verified against its card) into a
process cache and reuses it for every block. Chunks start on the model's size
multiple and the halo is a multiple of it, so every block sees the pooling
grid of the whole image; blocks at the image border are padded exactly as
whole-image prediction pads them.
"""

from __future__ import annotations

import logging
import math
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from numpy.typing import NDArray

from cohcube.model.errors import InputDataError
from cohcube.model.learning.card import ModelCard, card_path_for, read_card
from cohcube.model.learning.coherence_map import CoherenceMap, mapped_coherence
from cohcube.model.learning.preprocessing import InputContract, network_input

from .grid import spatial_chunks
from .pairs import acquisitions, check_same_track
from .store.schema import pair_coords
from .worker_model import cached_model, is_url, precision_in_use

log = logging.getLogger(__name__)

# One forward pass at a time per worker process, using all the worker's threads: the
# worker's other threads read and decode the next region's inputs and encode the last
# region's output meanwhile, instead of two forward passes halving each other's cores.
_FORWARD_LOCK = threading.Lock()


def infer_block(
    block: NDArray[np.float32],
    *,
    card_path: str,
    sha256: str,
    halo: int,
    precision: str = "fp32",
    block_info: dict[Any, Any] | None = None,
) -> NDArray[np.float32]:
    """(pairs, channels, h + halos, w + halos) raw backscatter -> (pairs, 2, h, w).

    The channels are the reference date's polarisations, then the secondary's (VV, VH,
    VV, VH), in linear power."""
    assert block_info is not None
    (y0, y1), (x0, x1) = block_info[None]["array-location"][2:]
    top, left = (halo if y0 > 0 else 0), (halo if x0 > 0 else 0)
    model = cached_model(card_path, sha256, precision)
    contract = model.contract
    n_pol = len(contract.polarizations)
    inputs = np.empty((len(block), contract.channels, *block.shape[2:]), dtype=np.float32)
    masks = np.empty((len(block), *block.shape[2:]), dtype=bool)
    for i, pair in enumerate(block):
        _, masks[i] = network_input(pair[:n_pol], pair[n_pol : 2 * n_pol], contract, out=inputs[i])
    if model.device.type == "cpu":
        # One pair per call on a CPU: the same throughput as batches (0.291 vs 0.287 Mpx/s
        # at 1024 px, 2 threads) for a batch's share of the activation memory.
        with _FORWARD_LOCK:
            out = np.concatenate([model.forward_channels(x[None]) for x in inputs])
    else:
        out = model.forward_channels(inputs)
    out[~np.broadcast_to(masks[:, None], out.shape)] = np.nan
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
    # Side by side, not plane by plane: the rechunk into pair batches merges them in one
    # task per block (stacking planes cost two tasks per plane and block).
    return da.concatenate([ref, sec], axis=1)


def _overlapped_inference(
    channels: da.Array,
    card_ref: str,
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
        card_path=card_ref,
        sha256=card.artefact.sha256,
        halo=halo,
        precision=precision,
    )


def _calibrated_block(
    block: NDArray[np.float32],
    days: NDArray[np.float64],
    sigma_factors: NDArray[np.float32],
    maps: dict[str, CoherenceMap] | None,
    block_info: dict[Any, Any] | None = None,
) -> NDArray[np.float32]:
    """``(pairs, 2, y, x)`` network output -> coherence mapped by ``maps`` and sigma scaled by
    ``sigma_factors`` for each pair's temporal baseline ``days`` (all pairs of the job)."""
    first = block_info[0]["array-location"][0][0] if block_info else 0
    pairs = slice(first, first + block.shape[0])
    out = np.empty_like(block)
    for i, baseline in enumerate(days[pairs]):
        out[i, 0] = mapped_coherence(block[i, 0], maps, float(baseline))
    out[:, 1] = block[:, 1] * sigma_factors[pairs, None, None]
    return out


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
    workers_read: str | None = None,
    precision_label: str | None = None,
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
        workers_read: where the workers read the model card, a path on their filesystem
            or a URL (default: ``model``'s resolved path on this machine).
        precision_label: the precision the workers run at, as ``warm_workers`` returned it
            (default: asked of the workers now).

    Returns:
        Dataset with ``coherence`` and ``coherence_sigma`` ``(pair, y, x)`` float32
        (NaN where an input is NaN; coherence recalibrated and sigma rescaled for
        each pair's temporal baseline when the card is calibrated per baseline) and
        per-pair coordinates.
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
    if workers_read is None or not is_url(workers_read):
        workers_read = str(Path(workers_read or card_path).resolve())
    result = _overlapped_inference(
        _channels(cube, pairs, contract),
        workers_read,
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
    days = pairs["temporal_baseline_days"].to_numpy(dtype=float)
    # The artefact's sigma is calibrated at its training baseline; the card may rescale it per
    # pair. A model without a calibrated sigma (an imported one) gets NaN: never a made-up sigma.
    if card.output.calibrated_sigma:
        sigma_factors = np.array([card.sigma_factor(d) for d in days], dtype=np.float32)
    else:
        sigma_factors = np.full(len(pairs), np.nan, dtype=np.float32)
    maps = card.calibration.coherence_map_by_baseline_days if card.calibration else None
    # Named after the forward pass it fuses with (one task per block: network, then calibration).
    result = result.map_blocks(
        _calibrated_block,
        days=days,
        sigma_factors=sigma_factors,
        maps=maps,
        dtype=np.float32,
        meta=result._meta,
        token=f"{infer_block.__name__}-calibrated",
    )
    dataset = xr.Dataset(
        {
            "coherence": (("pair", "y", "x"), result[:, 0]),
            "coherence_sigma": (("pair", "y", "x"), result[:, 1]),
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
        "inference_precision": precision_label or precision_in_use(precision, card_path),
        "coherence_calibration": "per-baseline map to the true coherence (model card)"
        if maps
        else "none: the network's output",
        "coherence_sigma": "calibrated"
        if card.output.calibrated_sigma
        else (f"not available: {card.name} has no calibrated uncertainty (all NaN)"),
        **(attrs or {}),
    }
    return dataset
