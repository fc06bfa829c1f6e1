"""OPERA L2 CSLC-S1 bursts (HDF5): geocoded, coregistered complex samples in UTM.

Reads the product layout of the OPERA CSLC-S1 specification (as the
``opera-utils`` package reads it): ``/data/<pol>`` complex64 samples (NaN
outside the burst), ``/data/x_coordinates`` and ``/data/y_coordinates``
(pixel centres, metres), ``/data/x_spacing``, ``/data/y_spacing`` (negative:
north up), ``/data/projection`` (EPSG code), ``/identification/burst_id``
(``t078_165495_iw3``) and ``/identification/zero_doppler_start_time``
(``%Y-%m-%d %H:%M:%S.%f``, UTC). Samples are posted 5 m east x 10 m north.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS

from cohcube.model.errors import SlcPairError

from .slc_files import SampleGrid, as_samples

DATA = "/data"
IDENTIFICATION = "/identification"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class OperaCslcFile:
    """One CSLC-S1 burst acquisition, read strip by strip.

    Raises:
        SlcPairError: not an HDF5 file, a dataset of the layout missing, not
            complex, or coordinates that are not a regular grid.
    """

    def __init__(self, path: str | Path, polarizations: tuple[str, ...] = ("VV",)) -> None:
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except FileNotFoundError:
            raise SlcPairError(f"OPERA CSLC file {self.path} does not exist") from None
        except OSError as exc:
            raise SlcPairError(f"cannot open {self.path} as OPERA CSLC HDF5: {exc}") from None
        try:
            self.unit = _text(self._scalar(f"{IDENTIFICATION}/burst_id")).lower()
            start = _text(self._scalar(f"{IDENTIFICATION}/zero_doppler_start_time"))
            try:
                self.date = dt.datetime.strptime(start, TIME_FORMAT).replace(tzinfo=dt.UTC)
            except ValueError:
                raise SlcPairError(
                    f"{self.path}: {IDENTIFICATION}/zero_doppler_start_time {start!r} is not "
                    f"{TIME_FORMAT}"
                ) from None
            self._datasets = {p: self._complex(p) for p in polarizations}
            self.grid = self._grid(next(iter(self._datasets.values())).shape)
        except Exception:
            self._file.close()
            raise

    def _dataset(self, name: str) -> h5py.Dataset:
        found = self._file.get(name)
        if not isinstance(found, h5py.Dataset):
            raise SlcPairError(
                f"{self.path} has no dataset {name}: not an OPERA CSLC-S1 product "
                "(or another product version)"
            )
        return found

    def _scalar(self, name: str) -> Any:
        return self._dataset(name)[()]

    def _complex(self, polarization: str) -> h5py.Dataset:
        dataset = self._dataset(f"{DATA}/{polarization}")
        if not np.issubdtype(dataset.dtype, np.complexfloating) or dataset.ndim != 2:
            raise SlcPairError(
                f"{self.path}: {DATA}/{polarization} is {dataset.dtype} of {dataset.ndim} "
                "dimension(s), not a complex image"
            )
        return dataset

    def _grid(self, shape: tuple[int, ...]) -> SampleGrid:
        x = np.asarray(self._dataset(f"{DATA}/x_coordinates")[()], dtype=np.float64)
        y = np.asarray(self._dataset(f"{DATA}/y_coordinates")[()], dtype=np.float64)
        dx = float(self._scalar(f"{DATA}/x_spacing"))
        dy = float(self._scalar(f"{DATA}/y_spacing"))
        epsg = int(self._scalar(f"{DATA}/projection"))
        if (y.size, x.size) != tuple(shape):
            raise SlcPairError(
                f"{self.path}: coordinates ({y.size} x {x.size}) do not match the samples {shape}"
            )
        for name, values, step in (("x", x, dx), ("y", y, dy)):
            if values.size > 1 and not np.allclose(np.diff(values), step, atol=1e-3 * abs(step)):
                raise SlcPairError(f"{self.path}: {name}_coordinates are not spaced {step} m")
        transform = Affine(dx, 0.0, x[0] - dx / 2, 0.0, dy, y[0] - dy / 2)
        return SampleGrid(
            shape=(int(shape[0]), int(shape[1])),
            spacing_m=(abs(dy), abs(dx)),
            crs=CRS.from_epsg(epsg),
            transform=transform,
        )

    def read_rows(self, polarization: str, start: int, stop: int) -> NDArray[np.complex64]:
        """Rows ``start:stop`` of ``/data/<polarization>``, complex64, NaN = no data."""
        return as_samples(self._datasets[polarization][start:stop, :])

    def position(self, row: float, col: float) -> tuple[float, float, str]:
        assert self.grid.transform is not None
        assert self.grid.crs is not None
        x, y = self.grid.transform @ (col, row)
        return float(x), float(y), str(self.grid.crs)

    def close(self) -> None:
        self._file.close()
