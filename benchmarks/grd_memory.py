"""A 2048 x 2048 px cube from one full-size GRD scene over HTTP: peak memory and bytes read.

    python benchmarks/grd_memory.py [--size 2048] [--chunk 512]

Writes one Level-1 GRD product of real IW size (16 000 lines x 25 000 samples,
uint16 COG, 512 px tiles, sparse: only the tiles under the cube hold data) with
real-layout XMLs, serves it from the loopback asset server (HTTP range
requests, as from object storage), builds the GRD cube over a ``--size``
square in the middle of the scene chunked at ``--chunk`` px and computes it.
Prints the peak resident memory of the process, the bytes of measurement tiles
the served window covers (the least any reader must fetch) and the bytes the
server actually sent, and their ratio. Write the CPU beside the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

import dask
import numpy as np
import pystac
import rasterio
from common import peak_memory
from rasterio.control import GroundControlPoint as RioGcp
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.shutil import copy
from rasterio.windows import Window

from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.grd.geocoding import GcpGeocoder
from cohcube.pipeline.grd.radiometry import dn_from_sigma0
from cohcube.pipeline.grid import CubeGrid
from cohcube.pipeline.sample.grd_documents import (
    ProductHeader,
    annotation_document,
    calibration_document,
    manifest_document,
    noise_document,
    sample_luts,
)
from cohcube.pipeline.sample.grd_scenes import RadarGeometry, grd_item

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (16_000, 25_000)  # lines x samples of an IW GRDH product
EPSG = 32633
WHEN = dt.datetime(2026, 3, 2, 16, 51, 30, tzinfo=dt.UTC)


def write_scene(folder: Path, size: int) -> tuple[dict[str, Path], RadarGeometry, CubeGrid, list]:
    """The sparse full-size product, and the cube grid in its middle."""
    geometry = RadarGeometry((500_000.0, 5_000_000.0), -12.0, 10.0, SHAPE)
    centre = geometry.to_map(np.array(SHAPE[0] / 2), np.array(SHAPE[1] / 2))
    half = size * 10.0 / 2
    cx, cy = float(centre[0]) // 160 * 160, float(centre[1]) // 160 * 160
    grid = CubeGrid(EPSG, 10.0, (cx - half, cy - half, cx + half, cy + half))
    gcps = geometry.gcps(EPSG, 0, SHAPE[0])
    header = ProductHeader("S1A", "VV", WHEN, WHEN + dt.timedelta(seconds=25), 62_000, "001")
    gain, noise = sample_luts(SHAPE, "vv")
    files = {
        "safe-manifest": folder / "manifest.safe",
        "schema-calibration-vv": folder / "annotation/calibration/calibration-iw-vv.xml",
        "schema-noise-vv": folder / "annotation/calibration/noise-iw-vv.xml",
        "schema-product-vv": folder / "annotation/iw-vv.xml",
        "vv": folder / "measurement/iw-vv.tiff",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    files["safe-manifest"].write_bytes(manifest_document())
    files["schema-calibration-vv"].write_bytes(calibration_document(header, gain, SHAPE[0]))
    files["schema-noise-vv"].write_bytes(noise_document(header, noise, SHAPE[0]))
    files["schema-product-vv"].write_bytes(
        annotation_document(header, SHAPE, "ascending", gcps, 10.0)
    )
    rows, cols = radar_window(gcps, grid)
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        staging = files["vv"].with_name("staging.tif")
        with rasterio.open(
            staging,
            "w",
            driver="GTiff",
            height=SHAPE[0],
            width=SHAPE[1],
            count=1,
            dtype="uint16",
            tiled=True,
            blockxsize=512,
            blockysize=512,
            compress="deflate",
            sparse_ok=True,
        ) as dst:
            for r0 in range(rows[0], rows[1], 512):
                r1 = min(r0 + 512, rows[1])
                sigma0 = 10 ** (rng.normal(-12, 3, (r1 - r0, cols[1] - cols[0])) / 10)
                sigma0 *= rng.exponential(1.0, sigma0.shape)
                dn = dn_from_sigma0(sigma0, gain, noise, r0, cols[0])
                dst.write(
                    np.clip(np.round(dn), 1, 65535).astype(np.uint16)[None],
                    window=Window(cols[0], r0, cols[1] - cols[0], r1 - r0),
                )
            dst.gcps = (
                [RioGcp(g.line, g.pixel, g.lon, g.lat, 0.0) for g in gcps],
                CRS.from_epsg(4326),
            )
        # As the archives serve it: a cloud-optimised GeoTIFF, 512 px tiles, empty ones omitted.
        copy(
            staging,
            files["vv"],
            driver="COG",
            blocksize=512,
            compress="DEFLATE",
            overviews="NONE",
            sparse_ok=True,
        )
        staging.unlink()
    return files, geometry, grid, gcps


def radar_window(gcps: list, grid: CubeGrid) -> tuple[tuple[int, int], tuple[int, int]]:
    """Radar rows and columns under the cube grid, aligned outwards to 512 px tiles."""
    line, pixel = GcpGeocoder.fit(gcps, grid.epsg).radar_grid(grid.transform, grid.shape)
    r0, r1 = math.floor(line.min()) - 1, math.ceil(line.max()) + 2
    c0, c1 = math.floor(pixel.min()) - 1, math.ceil(pixel.max()) + 2
    return (r0 // 512 * 512, -(-r1 // 512) * 512), (c0 // 512 * 512, -(-c1 // 512) * 512)


def covered_tile_bytes(path: Path, gcps: list, grid: CubeGrid) -> int:
    """Compressed bytes of the measurement tiles the cube's radar window touches."""
    line, pixel = GcpGeocoder.fit(gcps, grid.epsg).radar_grid(grid.transform, grid.shape)
    rows, cols = (line // 512).astype(int).ravel(), (pixel // 512).astype(int).ravel()
    tiles = set(zip(rows, cols, strict=True))
    with rasterio.open(path) as dataset:
        return sum(dataset.block_size(1, i, j) for i, j in tiles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--chunk", type=int, default=512)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "S1A_IW_GRDH_1SDV_BENCH"
        started = time.perf_counter()
        files, _, grid, gcps = write_scene(folder, args.size)
        print(
            f"scene {SHAPE[0]} x {SHAPE[1]} px, measurement file "
            f"{files['vv'].stat().st_size / 1e6:.1f} MB (sparse), written in "
            f"{time.perf_counter() - started:.0f} s"
        )
        port = 18765
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/support/asset_server.py"), tmp, str(port)]
        )
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{url}/__bytes", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            hrefs = {k: v for k, v in files.items()}
            document = grd_item(
                product_id="S1A_IW_GRDH_1SDV_BENCH",
                when=WHEN,
                platform="SENTINEL-1A",
                relative_orbit=73,
                absolute_orbit=62_000,
                orbit_state="ascending",
                gcps=gcps,
                shape=SHAPE,
                files=hrefs,
                polarisations=("vv",),
            )
            text = json.dumps(document).replace(tmp, url)
            item = pystac.Item.from_dict(json.loads(text))
            with dask.config.set(scheduler="threads", num_workers=2), peak_memory() as peak:
                started = time.perf_counter()
                cube = build_cube([item], ("vv",), grid=grid, chunk_px=args.chunk)
                values = cube.values
                seconds = time.perf_counter() - started
            served = json.loads(urllib.request.urlopen(f"{url}/__bytes").read())
        finally:
            server.terminate()
            server.wait()
        covered = covered_tile_bytes(files["vv"], gcps, grid)
        tiff = served.get("tiff", 0)
        print(
            f"cube {values.shape} chunked {args.chunk} px: {seconds:.1f} s, "
            f"{np.isfinite(values).mean():.1%} finite"
        )
        print(f"peak resident memory {peak.peak_bytes / 2**30:.2f} GiB")
        print(
            f"measurement tiles under the cube {covered / 1e6:.1f} MB; served "
            f"{tiff / 1e6:.1f} MB of tiff ({tiff / covered:.2f}x) "
            f"+ {served.get('xml', 0) / 1e6:.2f} MB of XML"
        )


if __name__ == "__main__":
    main()
