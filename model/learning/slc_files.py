"""One coregistered complex acquisition as training extraction reads it: grid, date, strips.

Two readers share the ``SlcFile`` protocol: ``GdalSlcFile`` (any complex
raster GDAL opens: ISCE2 ``*.slc.full.vrt``, SNAP complex GeoTIFF) in
``slc_reader``, and ``OperaCslcFile`` (OPERA L2 CSLC-S1 HDF5) in
``opera_cslc``. Both return row strips as complex64 with NaN where there is no
data, so the extraction never loads a whole burst.
"""

from __future__ import annotations

import datetime as dt
import glob
import math
import re
from collections.abc import Sequence
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


#: Where a path template names the polarisation (``snap/20240301_{pol}.tif``).
POL = "{pol}"


def expand_slc_paths(pattern: str, polarizations: Sequence[str]) -> list[str]:
    """The files a training config's ``pattern`` names, as templates (``{pol}`` kept).

    ``pattern`` is a path or a glob; ``{pol}`` in it stands for each polarisation. The
    files are found for the first polarisation and ``{pol}`` goes back exactly where the
    pattern has it, so a folder or date that spells a polarisation stays as it is.

    Raises:
        SlcPairError: a plain path (no wildcard) that does not exist.
    """
    first = polarizations[0]
    probe = pattern.replace(POL, first)
    if not glob.has_magic(probe):
        if not Path(probe).exists():
            raise SlcPairError(f"SLC file {probe} does not exist (named in the training config)")
        return [pattern]
    found = sorted(glob.glob(probe))
    if POL not in pattern:
        return found
    pieces = pattern.split(POL)
    shape = re.compile(f"({re.escape(first)})".join(_glob_regex(p) for p in pieces))
    templates = []
    for path in found:
        match = shape.fullmatch(path)
        assert match is not None  # glob found it for this very pattern
        cuts = [match.span(k) for k in range(1, len(pieces))]
        starts = [0, *(end for _, end in cuts)]
        stops = [*(start for start, _ in cuts), len(path)]
        templates.append(POL.join(path[a:b] for a, b in zip(starts, stops, strict=True)))
    return templates


def _glob_regex(piece: str) -> str:
    """A regular expression for one literal-or-wildcard piece of a glob (``*`` and ``?``
    stay within a path component, ``[...]`` is a character class)."""
    out, i = [], 0
    while i < len(piece):
        char = piece[i]
        close = piece.find("]", i + 2) if char == "[" else -1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif close > 0:
            body = piece[i + 1 : close]
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = close
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
