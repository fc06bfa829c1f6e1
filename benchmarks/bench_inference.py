"""Inference benchmarks on one machine and one model, each printing a ratio measured in one run.

    python benchmarks/bench_inference.py throughput   # predict_coherence vs the paper's tiling
    python benchmarks/bench_inference.py seams        # max |chunked - whole| for several halos
    python benchmarks/bench_inference.py throughput --model imported/back2coh.pt  # the paper's
    python benchmarks/bench_inference.py throughput --precision bf16  # both sides in bf16
    python benchmarks/bench_inference.py precision    # fp32 vs bf16 (and fp16 on a GPU)
    python benchmarks/bench_inference.py speckle      # speckle-correlation channels vs forward

Both use the shipped model and a pair of the embedded sample (throughput:
2048 x 2048 px in the pipeline's default 2048 px regions; seams: 1024 x 1024 px
in 256 px chunks, so most pixels lie near a chunk edge),
held in memory so that only inference is timed; torch uses 2 threads and Dask
the synchronous scheduler, for both contenders.
"""

from __future__ import annotations

import argparse
import time
from unittest.mock import patch

import dask
import numpy as np
import torch
import xarray as xr
from common import sample_cube
from paper_tiling import paper_tiling_forward
from scipy.ndimage import uniform_filter

from cohcube.model.learning import speckle_channels as speckle_module
from cohcube.model.learning.artefact import load_model
from cohcube.model.learning.device_calibration import device_label
from cohcube.model.learning.preprocessing import network_input
from cohcube.model.learning.speckle_channels import speckle_channels
from cohcube.pipeline.inference import predict_coherence
from cohcube.pipeline.pairs import select_pairs
from cohcube.pipeline.store import StoreLayout


def _pair_in_memory(size: int, chunk: int) -> tuple[xr.DataArray, object]:
    cube = sample_cube(size_px=size, chunk_px=chunk)
    pairs = select_pairs(cube, (12,)).iloc[-1:]
    used = sorted({int(pairs.reference_index.iloc[0]), int(pairs.secondary_index.iloc[0])})
    loaded = cube.isel(time=used).load()
    table = pairs.assign(reference_index=0, secondary_index=1)
    return loaded.chunk({"time": 1, "band": -1, "y": chunk, "x": chunk}), table


def throughput(
    size: int = 2048,
    chunk: int | None = None,
    model_path: str | None = None,
    precision: str = "fp32",
) -> None:
    chunk = chunk or StoreLayout().shard_px
    torch.set_num_threads(2)
    cube, pairs = _pair_in_memory(size, chunk)
    model = load_model(model_path, precision=precision)
    bands = list(model.contract.polarizations)
    channels, _ = network_input(
        cube.isel(time=0).sel(band=bands).values,
        cube.isel(time=1).sel(band=bands).values,
        model.contract,
    )
    with dask.config.set(scheduler="synchronous"):
        lazy = predict_coherence(cube, pairs, model_path, chunk=chunk, precision=precision)  # type: ignore[arg-type]
        _ = lazy.coherence.values  # warm-up: model load, first allocations
        start = time.perf_counter()
        ours = lazy.coherence.values[0]
        ours_s = time.perf_counter() - start
    start = time.perf_counter()
    paper = paper_tiling_forward(model, channels)[0]
    paper_s = time.perf_counter() - start
    pixels = size * size
    print(
        f"image {size} x {size} px, chunk {chunk}, halo {lazy.attrs['halo_px']} px, "
        f"model {model.name}, {model.precision} on both sides; {device_label(model.device)}"
    )
    print(f"predict_coherence : {ours_s:7.2f} s  {pixels / ours_s / 1e6:6.3f} Mpx/s")
    print(
        f"paper tiling      : {paper_s:7.2f} s  {pixels / paper_s / 1e6:6.3f} Mpx/s "
        "(128 px patches, stride 32, Kaiser beta 5)"
    )
    print(f"speed-up          : {paper_s / ours_s:.1f}x (target >= 10x)")
    difference = np.abs(ours - paper)
    print(
        f"|ours - paper tiling|: mean {np.nanmean(difference):.4f}, max {np.nanmax(difference):.4f}"
    )


def precision(size: int = 1024, device: str = "cpu") -> None:
    """fp32 against each reduced precision the device runs (fp16 on GPUs), one pair in memory."""
    torch.set_num_threads(2)
    cube, _pairs = _pair_in_memory(size, size)
    reference = load_model(device=device, precision="fp32")
    bands = list(reference.contract.polarizations)
    channels, valid = network_input(
        cube.isel(time=0).sel(band=bands).values,
        cube.isel(time=1).sel(band=bands).values,
        reference.contract,
    )
    kinds = ["fp32", "bf16"] + (["fp16"] if device == "cuda" else [])
    print(
        f"one pair of {size} x {size} px of the embedded sample, shipped model, "
        f"{torch.get_num_threads()} threads; {device_label(torch.device(device))}; auto picks "
        f"{load_model(device=device, precision='auto').precision}"
    )
    results = {}
    for kind in kinds:
        model = reference if kind == "fp32" else load_model(device=device, precision=kind)
        model.forward_channels(channels[None, :, :256, :256])  # warm-up
        start = time.perf_counter()
        out = model.forward_channels(channels[None])[0, 0]
        seconds = time.perf_counter() - start
        results[kind] = (seconds, out)
    base_s, base = results["fp32"]
    for kind, (seconds, out) in results.items():
        difference = np.abs(out - base)[valid]
        print(
            f"{kind:>5}: {seconds:7.2f} s  {size * size / seconds / 1e6:6.3f} Mpx/s  "
            f"{base_s / seconds:5.2f}x fp32  |difference| mean {difference.mean():.5f} "
            f"max {difference.max():.4f}"
        )


def _scipy_box(image: np.ndarray, window: int, out: np.ndarray | None = None) -> np.ndarray:
    return uniform_filter(image, window, output=out, mode="reflect")


def speckle(size: int = 2048, window: int = 7) -> None:
    """Cost of the speckle-correlation input channels (numpy, one thread, as a worker makes
    them per block) against the shipped model's forward pass on the same pair (2 threads)."""
    torch.set_num_threads(2)
    cube, _pairs = _pair_in_memory(size, size)
    model = load_model(precision="fp32")
    bands = list(model.contract.polarizations)
    reference = cube.isel(time=0).sel(band=bands).values
    secondary = cube.isel(time=1).sel(band=bands).values
    channels, _ = network_input(reference, secondary, model.contract)
    model.forward_channels(channels[None, :, :256, :256])  # warm-up
    start = time.perf_counter()
    model.forward_channels(channels[None])
    forward_s = time.perf_counter() - start
    # Before: SciPy's 2-D uniform_filter as the box (its column pass strides across rows).
    # Alternated, best of 3 each: on a VM that hands idle memory back to its host, the
    # first touch of fresh pages costs more than the arithmetic and varies from call to call.
    speckle_s = scipy_s = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        lags = speckle_channels(reference, secondary, window)
        speckle_s = min(speckle_s, time.perf_counter() - start)
        with patch.object(speckle_module, "box_mean", _scipy_box):
            start = time.perf_counter()
            before = speckle_channels(reference, secondary, window)
            scipy_s = min(scipy_s, time.perf_counter() - start)
    print(
        f"one pair of {size} x {size} px, {len(bands)} polarisations, {window} px box; "
        f"{device_label(model.device)}"
    )
    print(f"speckle channels, SciPy box (before): {scipy_s:7.2f} s")
    print(
        f"speckle channels ({len(lags)}, 1 thread) : {speckle_s:7.2f} s  "
        f"({scipy_s / speckle_s:.1f}x; max |difference| {np.abs(lags - before).max():.1e})"
    )
    print(f"forward, shipped model (2 threads)  : {forward_s:7.2f} s")
    print(f"channels / forward                  : {speckle_s / forward_s:7.2f}")


def seams(size: int = 1024, chunk: int = 256) -> None:
    torch.set_num_threads(2)
    cube, pairs = _pair_in_memory(size, chunk)
    model = load_model()
    whole, _ = model.predict(
        cube.isel(time=0).values[: len(model.contract.polarizations)],
        cube.isel(time=1).values[: len(model.contract.polarizations)],
    )
    default = model.recommended_halo_px
    print(
        f"image {size} x {size} px in {size // chunk} x {size // chunk} chunks of {chunk} px; "
        f"model {model.name}; card halo {default} px"
    )
    with dask.config.set(scheduler="synchronous"):
        for halo in sorted({0, 16, 32, 64, 128, default}):
            lazy = predict_coherence(cube, pairs, chunk=chunk, halo=halo)  # type: ignore[arg-type]
            error = float(np.nanmax(np.abs(lazy.coherence.values[0] - whole)))
            mark = "  <- default" if halo == default else ""
            print(f"halo {halo:4d} px: max |chunked - whole| = {error:.2e}{mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=["throughput", "seams", "precision", "speckle"])
    parser.add_argument("--size", type=int, help="Image side, pixels.")
    parser.add_argument("--chunk", type=int, help="Chunk side, pixels (throughput, seams).")
    parser.add_argument(
        "--model", help="Model card or .pt (throughput; e.g. one made by cohcube import-keras)."
    )
    parser.add_argument("--precision", default="fp32", help="throughput: fp32, bf16, fp16, auto.")
    parser.add_argument("--device", default="cpu", help="precision: cpu or cuda.")
    args = parser.parse_args()
    options: dict[str, object] = {"size": args.size} if args.size else {}
    if args.which == "precision":
        precision(**options, device=args.device)  # type: ignore[arg-type]
        return
    if args.which == "speckle":
        speckle(**options)  # type: ignore[arg-type]
        return
    if args.chunk:
        options["chunk"] = args.chunk
    if args.which == "seams":
        seams(**options)  # type: ignore[arg-type]
        return
    throughput(**options, model_path=args.model, precision=args.precision)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
