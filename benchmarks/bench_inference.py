"""Inference benchmarks on one machine and one model, each printing a ratio measured in one run.

    python benchmarks/bench_inference.py throughput   # predict_coherence vs the paper's tiling
    python benchmarks/bench_inference.py seams        # max |chunked - whole| for several halos
    python benchmarks/bench_inference.py throughput --model imported/back2coh.pt  # the paper's

Both use the shipped model and a pair of the embedded sample (throughput:
2048 x 2048 px in the pipeline's default 1024 px chunks; seams: 1024 x 1024 px
in 256 px chunks, so most pixels lie near a chunk edge),
held in memory so that only inference is timed; torch uses 2 threads and Dask
the synchronous scheduler, for both contenders.
"""

from __future__ import annotations

import argparse
import time

import dask
import numpy as np
import torch
import xarray as xr
from common import sample_cube
from paper_tiling import paper_tiling_forward

from cohcube.model.learning.artefact import load_model
from cohcube.model.learning.preprocessing import network_input
from cohcube.pipeline.inference import predict_coherence
from cohcube.pipeline.pairs import select_pairs


def _pair_in_memory(size: int, chunk: int) -> tuple[xr.DataArray, object]:
    cube = sample_cube(size_px=size, chunk_px=chunk)
    pairs = select_pairs(cube, (12,)).iloc[-1:]
    used = sorted({int(pairs.reference_index.iloc[0]), int(pairs.secondary_index.iloc[0])})
    loaded = cube.isel(time=used).load()
    table = pairs.assign(reference_index=0, secondary_index=1)
    return loaded.chunk({"time": 1, "band": -1, "y": chunk, "x": chunk}), table


def throughput(size: int = 2048, chunk: int = 1024, model_path: str | None = None) -> None:
    torch.set_num_threads(2)
    cube, pairs = _pair_in_memory(size, chunk)
    model = load_model(model_path)
    bands = list(model.contract.polarizations)
    channels, _ = network_input(
        cube.isel(time=0).sel(band=bands).values,
        cube.isel(time=1).sel(band=bands).values,
        model.contract,
    )
    with dask.config.set(scheduler="synchronous"):
        lazy = predict_coherence(cube, pairs, model_path, chunk=chunk)  # type: ignore[arg-type]
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
        f"model {model.name}"
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
    parser.add_argument("which", choices=["throughput", "seams"])
    parser.add_argument("--size", type=int, help="Image side, pixels.")
    parser.add_argument("--chunk", type=int, help="Chunk side, pixels.")
    parser.add_argument(
        "--model", help="Model card or .pt (throughput; e.g. one made by cohcube import-keras)."
    )
    args = parser.parse_args()
    options = {k: v for k, v in (("size", args.size), ("chunk", args.chunk)) if v is not None}
    if args.model and args.which == "throughput":
        options["model_path"] = args.model
    {"throughput": throughput, "seams": seams}[args.which](**options)


if __name__ == "__main__":
    main()
