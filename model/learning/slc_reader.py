"""Real coregistered SLC pairs -> detected images and the sample-coherence target.

Reads any GDAL-readable complex raster pair (complex GeoTIFF or VRT, e.g.
ISCE2 ``merged/*.slc.full.vrt`` or SNAP GeoTIFF exports), multilooks the
intensities and the cross product in row strips (bounded memory), optionally
resamples those moments onto a map grid, and estimates coherence there: the
same target the simulator produces, from data a user brings.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window

from cohcube.model.errors import SlcPairError
from cohcube.model.physics.estimators import coherence_from_moments

from .slc_files import SampleGrid, as_samples, date_in_path, lonlat_metres

STRIP_OUTPUT_ROWS = 256


@dataclass(frozen=True)
class TargetGrid:
    """A map grid: CRS, affine transform of the top-left corner, ``(rows, cols)``."""

    crs: CRS
    transform: Affine
    shape: tuple[int, int]


@dataclass
class DetectedPair:
    """Detected images and coherence target of one real SLC pair.

    Attributes:
        reference, secondary: multilooked intensities ``|s|^2``, linear, ``(H, W)`` float32.
        coherence: sample coherence over ``window`` output pixels, ``(H, W)`` float32.
        transform, crs: georeferencing of the output (``crs`` None for radar geometry).
        looks: ``(rows, cols)`` SLC samples averaged per output pixel before any resampling.
    """

    reference: NDArray[np.float32]
    secondary: NDArray[np.float32]
    coherence: NDArray[np.float32]
    transform: Affine
    crs: CRS | None
    looks: tuple[int, int]


def _open_complex(path: Path, band: int) -> rasterio.DatasetReader:
    try:
        with warnings.catch_warnings():
            # Radar-geometry SLCs have no geotransform; that is expected here.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            dataset = rasterio.open(path)
    except RasterioIOError as exc:
        raise SlcPairError(f"cannot open SLC raster {path}: {exc}") from None
    if band < 1 or band > dataset.count:
        dataset.close()
        raise SlcPairError(f"{path} has {dataset.count} band(s); band {band} does not exist")
    if not np.issubdtype(np.dtype(_numpy_dtype(dataset.dtypes[band - 1])), np.complexfloating):
        dtype = dataset.dtypes[band - 1]
        dataset.close()
        raise SlcPairError(
            f"{path} band {band} is {dtype}, not complex: an SLC pair needs complex samples "
            "(detected GRD images carry no phase)"
        )
    return dataset


def _numpy_dtype(gdal_dtype: str) -> str:
    return "complex64" if gdal_dtype == "complex_int16" else gdal_dtype


def _multilook_strip(
    s1: NDArray[np.complex64], s2: NDArray[np.complex64], looks: tuple[int, int]
) -> NDArray[np.float64]:
    """Means of Re(s1 s2*), Im(s1 s2*), |s1|^2, |s2|^2 over looks; ``(4, rows, cols)``."""
    ly, lx = looks
    rows, cols = s1.shape[0] // ly, s1.shape[1] // lx
    a = s1[: rows * ly, : cols * lx].astype(np.complex128)
    b = s2[: rows * ly, : cols * lx].astype(np.complex128)
    valid = (a != 0) & (b != 0) & np.isfinite(a) & np.isfinite(b)
    a, b = np.where(valid, a, 0), np.where(valid, b, 0)

    def block_sum(x: NDArray[Any]) -> NDArray[Any]:
        return np.asarray(x.reshape(rows, ly, cols, lx).sum(axis=(1, 3)))

    count = block_sum(valid.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(count > 0, 1.0 / count, np.nan)
        cross = block_sum(a * np.conj(b)) * scale
        p1 = block_sum(np.abs(a) ** 2) * scale
        p2 = block_sum(np.abs(b) ** 2) * scale
    return np.stack([cross.real, cross.imag, p1, p2]).astype(np.float64)


def read_slc_pair(
    reference_path: str | Path,
    secondary_path: str | Path,
    *,
    looks: tuple[int, int] = (1, 4),
    window: int | tuple[int, int] = 5,
    grid: TargetGrid | None = None,
    band: int = 1,
) -> DetectedPair:
    """Detected images and coherence target from a coregistered complex raster pair.

    Args:
        reference_path, secondary_path: complex rasters of identical shape
            (coregistered); samples equal to 0 or NaN are no data.
        looks: ``(rows, cols)`` SLC samples averaged into one pixel (Sentinel-1
            IW: ``(1, 4)`` gives about 14 m x 9 m).
        window: coherence boxcar in output pixels.
        grid: map grid to resample the multilooked moments onto (average
            resampling); needs georeferenced rasters. None keeps radar geometry.
        band: band to read in both files.
    """
    ref_path, sec_path = Path(reference_path), Path(secondary_path)
    with _open_complex(ref_path, band) as ds1, _open_complex(sec_path, band) as ds2:
        if (ds1.height, ds1.width) != (ds2.height, ds2.width):
            raise SlcPairError(
                f"SLC rasters differ in size: {ref_path} is {ds1.height} x {ds1.width}, "
                f"{sec_path} is {ds2.height} x {ds2.width}; coregister them first"
            )
        ly, lx = looks
        out_rows, out_cols = ds1.height // ly, ds1.width // lx
        if out_rows < 1 or out_cols < 1:
            raise SlcPairError(f"{ref_path} is smaller than one {ly} x {lx} look")
        moments = np.empty((4, out_rows, out_cols), dtype=np.float64)
        for start in range(0, out_rows, STRIP_OUTPUT_ROWS):
            rows = min(STRIP_OUTPUT_ROWS, out_rows - start)
            win = Window(0, start * ly, out_cols * lx, rows * ly)
            s1 = ds1.read(band, window=win, out_dtype="complex64")
            s2 = ds2.read(band, window=win, out_dtype="complex64")
            moments[:, start : start + rows] = _multilook_strip(s1, s2, looks)
        transform = ds1.transform @ Affine.scale(lx, ly)
        crs = ds1.crs
    if grid is not None:
        if crs is None:
            raise SlcPairError(
                f"{ref_path} has no CRS: it is in radar geometry and cannot be resampled onto "
                "a map grid; geocode the pair first or read it without a grid"
            )
        resampled = np.full((4, *grid.shape), np.nan, dtype=np.float64)
        for k in range(4):
            reproject(
                moments[k],
                resampled[k],
                src_transform=transform,
                src_crs=crs,
                dst_transform=grid.transform,
                dst_crs=grid.crs,
                src_nodata=np.nan,
                dst_nodata=np.nan,
                resampling=Resampling.average,
            )
        moments, transform, crs = resampled, grid.transform, grid.crs
    cross = moments[0] + 1j * moments[1]
    coherence = coherence_from_moments(cross, moments[2], moments[3], window)
    return DetectedPair(
        reference=moments[2].astype(np.float32),
        secondary=moments[3].astype(np.float32),
        coherence=coherence,
        transform=transform,
        crs=crs,
        looks=(ly, lx),
    )


def grid_from_bounds(
    crs: CRS, bounds: tuple[float, float, float, float], resolution: float
) -> TargetGrid:
    """A north-up grid covering ``(left, bottom, right, top)`` at ``resolution`` metres."""
    left, bottom, right, top = bounds
    cols = math.ceil((right - left) / resolution)
    rows = math.ceil((top - bottom) / resolution)
    return TargetGrid(crs, Affine(resolution, 0, left, 0, -resolution, top), (rows, cols))


def _lookup_raster(path: Path, shape: tuple[int, int], slc: Path) -> rasterio.DatasetReader:
    if not path.exists():
        raise SlcPairError(
            f"lookup raster {path} (for {slc}) does not exist; give the lat/lon rasters of the "
            "stack's reference geometry (ISCE2: geom_reference/lat.rdr, lon.rdr)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            dataset = rasterio.open(path)
        except RasterioIOError as exc:
            raise SlcPairError(f"cannot open lookup raster {path}: {exc}") from None
    if (dataset.height, dataset.width) != shape:
        dataset.close()
        raise SlcPairError(
            f"lookup raster {path} is {dataset.height} x {dataset.width}, but {slc} has "
            f"{shape[0]} x {shape[1]} samples: use the lookup of this stack's geometry"
        )
    return dataset


def _lookup_spacing(
    lat: rasterio.DatasetReader, lon: rasterio.DatasetReader
) -> tuple[float, float]:
    """Median ground distance between neighbouring samples, ``(row, col)`` metres."""
    rows = min(lat.height, 64)
    win = Window(0, (lat.height - rows) // 2, lat.width, rows)
    la = lat.read(1, window=win).astype(np.float64)
    lo = lon.read(1, window=win).astype(np.float64)
    scale_y = 110_574.0
    scale_x = 111_320.0 * np.cos(np.radians(la))

    def step(axis: int) -> float:
        if la.shape[axis] < 2:
            return float("nan")
        dy = np.diff(la, axis=axis) * scale_y
        dx = np.diff(lo, axis=axis) * (scale_x[1:] if axis == 0 else scale_x[:, 1:])
        return float(np.nanmedian(np.hypot(dx, dy)))

    return step(0), step(1)


class GdalSlcFile:
    """One acquisition of a coregistered stack of complex rasters (every polarisation).

    Args:
        path: the raster; ``{pol}`` in it stands for each polarisation.
        polarizations: polarisations to read.
        unit: the stack's name (what a split by burst keeps together).
        band: band read from every raster.
        lookup: ``(lat, lon)`` rasters for radar-geometry SLCs.
    """

    def __init__(
        self,
        path: str | Path,
        polarizations: tuple[str, ...],
        unit: str,
        band: int = 1,
        lookup: tuple[Path, Path] | None = None,
    ) -> None:
        self.path = Path(path)
        self.unit = unit
        self.date = date_in_path(self.path)
        self._band = band
        paths = {p: Path(str(path).replace("{pol}", p)) for p in polarizations}
        for p, file in paths.items():
            if not file.exists():
                raise SlcPairError(f"SLC raster {file} ({p}) does not exist")
        self._datasets = {p: _open_complex(file, band) for p, file in paths.items()}
        self._lookups: tuple[rasterio.DatasetReader, rasterio.DatasetReader] | None = None
        try:
            self.grid = self._grid(lookup)
        except Exception:
            self.close()
            raise

    def _grid(self, lookup: tuple[Path, Path] | None) -> SampleGrid:
        first = next(iter(self._datasets.values()))
        shape = (first.height, first.width)
        for p, ds in self._datasets.items():
            if (ds.height, ds.width) != shape:
                raise SlcPairError(f"{ds.name} ({p}) is not the size of {first.name}")
        georeferenced = first.crs is not None and not first.transform.is_identity
        if georeferenced and lookup is None:
            if not first.crs.is_projected:
                raise SlcPairError(
                    f"{self.path} is in {first.crs} (degrees): reproject it to a metric CRS "
                    "(UTM) or give lat/lon lookup rasters"
                )
            t = first.transform
            return SampleGrid(shape, (abs(t.e), abs(t.a)), first.crs, t)
        if lookup is None:
            raise SlcPairError(
                f"{self.path} has no map grid (radar geometry): give the stack's lat and lon "
                "lookup rasters in the source (ISCE2: geom_reference/lat.rdr, lon.rdr)"
            )
        lat = _lookup_raster(lookup[0], shape, self.path)
        lon = _lookup_raster(lookup[1], shape, self.path)
        self._lookups = (lat, lon)
        return SampleGrid(shape, _lookup_spacing(lat, lon), lookup=lookup)

    def read_rows(self, polarization: str, start: int, stop: int) -> NDArray[np.complex64]:
        ds = self._datasets[polarization]
        win = Window(0, start, ds.width, stop - start)
        return as_samples(ds.read(self._band, window=win, out_dtype="complex64"))

    def position(self, row: float, col: float) -> tuple[float, float, str]:
        if self._lookups is None:
            assert self.grid.transform is not None
            x, y = self.grid.transform @ (col, row)
            return float(x), float(y), str(self.grid.crs)
        r = min(max(int(row), 0), self.grid.shape[0] - 1)
        c = min(max(int(col), 0), self.grid.shape[1] - 1)
        lat, lon = (float(d.read(1, window=Window(c, r, 1, 1))[0, 0]) for d in self._lookups)
        return lonlat_metres(lon, lat)

    def close(self) -> None:
        for ds in self._datasets.values():
            ds.close()
        for ds in self._lookups or ():
            ds.close()
