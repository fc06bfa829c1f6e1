"""One coregistered complex acquisition as training extraction reads it: grid, date, strips.

Two readers share the ``SlcFile`` protocol: ``GdalSlcFile`` (any complex
raster GDAL opens: ISCE2 ``*.slc.full.vrt``, SNAP complex GeoTIFF) in
``slc_reader``, and ``OperaCslcFile`` (OPERA L2 CSLC-S1 HDF5) in
``opera_cslc``. Both return row strips as complex64 with NaN where there is no
data, so the extraction never loads a whole burst.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS

from cohcube.model.errors import SlcPairError

_DATE = re.compile(r"(?<!\d)(\d{8})(?!\d)")


@dataclass(frozen=True)
class SampleGrid:
    """Where the samples of a complex raster lie.

    Attributes:
        shape: ``(rows, cols)`` samples.
        spacing_m: ``(row, col)`` sample spacing on the ground, metres.
        crs, transform: map grid of the samples (transform of the top-left
            corner); None for radar geometry.
        lookup: ``(lat, lon)`` rasters giving every sample's position (radar
            geometry), or None.
    """

    shape: tuple[int, int]
    spacing_m: tuple[float, float]
    crs: CRS | None = None
    transform: Affine | None = None
    lookup: tuple[Path, Path] | None = None

    def same_as(self, other: SampleGrid) -> bool:
        """Same samples on the ground (shape, spacing, map grid), to a millimetre."""
        if self.shape != other.shape or self.crs != other.crs:
            return False
        pairs = zip(self.spacing_m, other.spacing_m, strict=True)
        if not all(math.isclose(a, b, abs_tol=1e-3) for a, b in pairs):
            return False
        if (self.transform is None) != (other.transform is None):
            return False
        if self.transform is not None and other.transform is not None:
            return bool(self.transform.almost_equals(other.transform, precision=1e-3))
        return True


class SlcFile(Protocol):
    """One acquisition of a coregistered stack."""

    path: Path
    date: dt.datetime
    unit: str
    grid: SampleGrid

    def read_rows(self, polarization: str, start: int, stop: int) -> NDArray[np.complex64]:
        """Rows ``start:stop`` (all columns) of ``polarization``, complex64, NaN = no data."""
        ...

    def position(self, row: float, col: float) -> tuple[float, float, str]:
        """Ground position of a sample: ``(x, y, crs)`` in metres of ``crs``."""
        ...

    def close(self) -> None: ...


def date_in_path(path: Path) -> dt.datetime:
    """The acquisition date a path names as YYYYMMDD (ISCE2 ``merged/SLC/20240101/...``)."""
    found = _DATE.findall(str(path))
    for text in reversed(found):
        try:
            return dt.datetime.strptime(text, "%Y%m%d").replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise SlcPairError(
        f"cannot tell the date of {path}: its path holds no YYYYMMDD date; name the folder "
        "or file by date (as ISCE2 does: merged/SLC/20240101/20240101.slc.full.vrt)"
    )


def as_samples(values: NDArray[np.complexfloating]) -> NDArray[np.complex64]:
    """complex64 samples, NaN where there is no data (0 or non-finite: what exporters write)."""
    out = np.asarray(values, dtype=np.complex64)
    invalid = (out == 0) | ~np.isfinite(out)
    if invalid.any():
        out = out.copy() if out is values else out
        out[invalid] = np.complex64(complex(np.nan, np.nan))
    return out


def lonlat_metres(lon: float, lat: float) -> tuple[float, float, str]:
    """A position in degrees as local metres (equirectangular), for area blocks."""
    return (lon * 111_320.0 * math.cos(math.radians(lat)), lat * 110_574.0, "lonlat")


def check_pair(reference: SlcFile, secondary: SlcFile) -> None:
    """Refuse pairs that are not one coregistered stack in time order (one line, both files)."""
    if reference.unit != secondary.unit:
        raise SlcPairError(
            f"{secondary.path} (burst {secondary.unit}) cannot pair with {reference.path} "
            f"(burst {reference.unit}): a pair must be two dates of one burst"
        )
    if not reference.grid.same_as(secondary.grid):
        raise SlcPairError(
            f"{secondary.path} is not on the grid of {reference.path} "
            f"({secondary.grid.shape} vs {reference.grid.shape} samples, spacing "
            f"{secondary.grid.spacing_m} vs {reference.grid.spacing_m} m): coregister the stack"
        )
    if secondary.date <= reference.date:
        raise SlcPairError(
            f"dates out of order: {secondary.path} ({secondary.date:%Y-%m-%d}) is not later "
            f"than its reference {reference.path} ({reference.date:%Y-%m-%d}); give the earlier "
            "date as reference"
        )
