"""How the sample writes its files: Cloud-Optimized GeoTIFFs and JSON documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import rasterio
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS

# No overviews: speckled float32 does not compress, and the sample stays ~0.45 GB.
COG_OPTIONS = {
    "driver": "COG",
    "compress": "ZSTD",
    "level": 1,
    "blocksize": 512,
    "overviews": "NONE",
}


def write_cog(
    path: Path, data: NDArray[Any], transform: Affine, crs: CRS, nodata: float | int
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        **COG_OPTIONS,
    ) as dst:
        dst.write(data, 1)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
