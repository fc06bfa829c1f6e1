"""Peak memory of extracting training patches from a full-size SLC burst pair.

    python benchmarks/slc_memory.py [--rows 20000] [--cols 5000] [--format both]

Writes a coregistered pair of ``rows x cols`` complex64 samples (circular
Gaussian speckle, coherence 0.6, a no-data border as real bursts have) twice:
as an OPERA CSLC-S1 HDF5 burst (10 m north x 5 m east posting, chunked like
the product) and as complex GeoTIFFs (14 m x 2.3 m, ISCE2/SNAP-like), then
extracts 128 px patches from each in a fresh process (``training_sets`` path:
strip reads, Zarr cache) and prints that process's peak resident memory
(``ru_maxrss``), the patch count and the seconds. Target: < 2 GB. Write the
CPU beside the figures.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

EPSG = 32633
BORDER = 64
STRIP = 1000


def _strips(rows: int, cols: int, seed: int):  # type: ignore[no-untyped-def]
    """Correlated sample strips ``(s1, s2)`` of the pair, NaN outside the valid burst."""
    rng = np.random.default_rng(seed)
    gamma = 0.6

    def gaussian(shape: tuple[int, int]) -> np.ndarray:
        z = rng.standard_normal(shape, dtype=np.float32) + 1j * rng.standard_normal(
            shape, dtype=np.float32
        )
        return (z * np.float32(np.sqrt(0.5))).astype(np.complex64)

    for start in range(0, rows, STRIP):
        shape = (min(STRIP, rows - start), cols)
        z1, w = gaussian(shape), gaussian(shape)
        z2 = (gamma * z1 + np.sqrt(1 - gamma**2) * w).astype(np.complex64)
        for z in (z1, z2):
            z[:, :BORDER] = np.nan
            z[:, -BORDER:] = np.nan
        yield start, z1 * np.float32(0.3), z2 * np.float32(0.3)


def write_opera_pair(folder: Path, rows: int, cols: int) -> list[Path]:
    paths = [
        folder
        / f"OPERA_L2_CSLC-S1_T078-165495-IW2_2024030{d}T051233Z_20240601T000000Z_S1A_VV_v1.1.h5"
        for d in (1, 7)
    ]
    files = [h5py.File(p, "w") for p in paths]
    for f, day in zip(files, ("01", "13"), strict=True):
        f.create_dataset("/data/VV", shape=(rows, cols), dtype=np.complex64, chunks=(128, 128))
        f["/data/x_coordinates"] = 400_000.0 + 5.0 * (np.arange(cols) + 0.5)
        f["/data/y_coordinates"] = 5_100_000.0 - 10.0 * (np.arange(rows) + 0.5)
        f["/data/x_spacing"] = np.float64(5.0)
        f["/data/y_spacing"] = np.float64(-10.0)
        f["/data/projection"] = np.int32(EPSG)
        f["/identification/burst_id"] = np.bytes_("t078_165495_iw2")
        f["/identification/zero_doppler_start_time"] = np.bytes_(f"2024-03-{day} 05:12:33.000000")
    for start, s1, s2 in _strips(rows, cols, 1):
        files[0]["/data/VV"][start : start + s1.shape[0]] = s1
        files[1]["/data/VV"][start : start + s2.shape[0]] = s2
    for f in files:
        f.close()
    return paths


def write_geotiff_pair(folder: Path, rows: int, cols: int) -> list[Path]:
    paths = [folder / d / f"{d}.slc.tif" for d in ("20240301", "20240313")]
    profile = {
        "driver": "GTiff",
        "height": rows,
        "width": cols,
        "count": 1,
        "dtype": "complex64",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "crs": CRS.from_epsg(EPSG),
        "transform": Affine(2.3, 0, 400_000.0, 0, -14.0, 5_100_000.0),
    }
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
    outs = [rasterio.open(p, "w", **profile) for p in paths]
    for start, s1, s2 in _strips(rows, cols, 2):
        for out, s in zip(outs, (s1, s2), strict=True):
            out.write(s, 1, window=Window(0, start, cols, s.shape[0]))
    for out in outs:
        out.close()
    return paths


def extract(kind: str, pattern: str, cache: str, step: str) -> None:
    """Child process: extract the pair into a Zarr store (``extract``), or build the
    training patches from the cache (``load``), the way ``cohcube train`` does."""
    from cohcube.model.learning.data_sources import OperaCslcSource, SlcPairsSource
    from cohcube.model.learning.slc_patches import extract_pair, plan_pairs, source_patches

    source = (
        OperaCslcSource(files=[pattern]) if kind == "opera" else SlcPairsSource(files=[pattern])
    )
    started = time.perf_counter()
    if step == "extract":
        (plan,) = plan_pairs(source)
        Path(cache).mkdir(parents=True, exist_ok=True)
        count = extract_pair(plan, source, 128, 0, Path(cache) / "pair.zarr", progress=False)
        note = ""
    else:
        real = source_patches(source, 128, 0, Path(cache), progress=False)
        count = len(real.units)
        held = sum(a.nbytes for a in vars(real.patches).values()) / 2**20
        note = f" (patches held for training: {held:.0f} MiB)"
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{kind} {step}: {count} patches in {seconds:.1f} s, peak RSS {peak:.0f} MiB{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--cols", type=int, default=5_000)
    parser.add_argument("--format", choices=("opera", "geotiff", "both"), default="both")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        extract(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        size_mb = 2 * args.rows * args.cols * 8 / 1e6
        print(f"pair of {args.rows} x {args.cols} complex64 samples ({size_mb:.0f} MB per format)")
        kinds = ("opera", "geotiff") if args.format == "both" else (args.format,)
        for kind in kinds:
            started = time.perf_counter()
            if kind == "opera":
                write_opera_pair(folder, args.rows, args.cols)
                pattern = str(folder / "OPERA_*.h5")
            else:
                write_geotiff_pair(folder, args.rows, args.cols)
                pattern = str(folder / "*" / "*.slc.tif")
            print(f"{kind}: written in {time.perf_counter() - started:.0f} s")
            cache = folder / f"cache-{kind}"
            for step, into in (("extract", folder / f"extracted-{kind}"), ("load", cache)):
                subprocess.run(
                    [sys.executable, __file__, "--child", kind, pattern, str(into), step],
                    check=True,
                )
            for file in folder.glob("**/*"):
                if file.is_file() and file.suffix in (".h5", ".tif"):
                    file.unlink()


if __name__ == "__main__":
    main()
