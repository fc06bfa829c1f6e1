"""Coregistered complex rasters GDAL reads, as training extraction reads them (``SlcFile``).

``GdalSlcFile``: any GDAL-readable complex raster (complex GeoTIFF or VRT, e.g.
ISCE2 ``merged/SLC/*/*.slc.full.vrt`` or SNAP GeoTIFF exports), placed by its
map grid or, in radar geometry, by lat/lon lookup rasters (ISCE2
``geom_reference/lat.rdr, lon.rdr``); it reads row strips, never a whole burst.
Detection and the coherence target are ``slc_extraction``'s, the simulator's own.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from cohcube.model.errors import SlcPairError

from .slc_files import POL, SampleGrid, as_samples, date_in_path, lonlat_metres


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
        paths = {p: Path(str(path).replace(POL, p)) for p in polarizations}
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
