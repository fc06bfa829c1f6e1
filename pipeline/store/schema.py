"""The coherence cube's one definition: variables, pair coordinates, CF attributes, CRS encoding.

Everything that writes, reads or describes a cube takes its names from here:
``predict_coherence`` builds its pair coordinates with ``pair_coords``, the
Zarr writer creates the store from ``empty_cube`` and ``cube_encoding``, the
cube's STAC Item lists ``DATA_VARIABLES`` and ``PAIR_COORDINATES`` with
their descriptions, and the sample's truth cube has the same coordinates.

A cube (``cohcube:format = cohcube-coherence-cube``) is ``(pair, y, x)``:
``coherence`` and ``coherence_sigma`` float32 (NaN = no data), one row per
interferometric pair with its reference and secondary acquisition times,
temporal baseline, relative orbit, orbit direction and platforms; ``x``/``y``
pixel centres on a north-up grid whose CRS is the CF grid mapping
``spatial_ref`` (rioxarray), repeated as ``proj:code``/``spatial:transform``
group attributes for STAC-minded readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

FORMAT = "cohcube-coherence-cube"
FORMAT_VERSION = 1
#: On-disk units of the acquisition times (int64 seconds; CF decodes them).
TIME_UNITS = "seconds since 1970-01-01T00:00:00"
#: Chunk length of the pair coordinates: one object per 1024 pairs.
COORD_CHUNK = 1024
#: Source attributes that describe another encoding, never copied into a cube.
ENCODING_ATTRS = ("_FillValue", "missing_value", "scale_factor", "add_offset", "dtype")


@dataclass(frozen=True)
class VariableSpec:
    """One variable of the cube.

    Attributes:
        long_name: CF ``long_name``.
        units: CF ``units`` (``"1"``: dimensionless).
        description: what it holds, in the cube's STAC Item.
        stac_unit: unit in the STAC datacube extension (None: none).
        valid_range: CF ``valid_range`` (None: not bounded).
    """

    long_name: str
    units: str | None
    description: str
    stac_unit: str | None = None
    valid_range: tuple[float, float] | None = None

    def cf_attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {"long_name": self.long_name}
        if self.units is not None:
            attrs["units"] = self.units
        if self.valid_range is not None:
            attrs["valid_range"] = list(self.valid_range)
        return attrs


DATA_VARIABLES: dict[str, VariableSpec] = {
    "coherence": VariableSpec(
        long_name="interferometric coherence magnitude",
        units="1",
        description="interferometric coherence magnitude estimated from backscatter",
        stac_unit="1",
        valid_range=(0.0, 1.0),
    ),
    "coherence_sigma": VariableSpec(
        long_name="predictive standard deviation of the coherence",
        units="1",
        description="predictive standard deviation of the coherence",
        stac_unit="1",
    ),
}
PAIR_COORDINATES: dict[str, VariableSpec] = {
    "pair": VariableSpec(
        "pair id", None, "interferometric pair: reference and secondary acquisition"
    ),
    "reference_time": VariableSpec("reference acquisition", None, "first acquisition of the pair"),
    "secondary_time": VariableSpec("secondary acquisition", None, "second acquisition of the pair"),
    "temporal_baseline": VariableSpec(
        "temporal baseline", "days", "time between the acquisitions", stac_unit="d"
    ),
    "relative_orbit": VariableSpec("relative orbit", None, "relative orbit of both acquisitions"),
    "orbit_state": VariableSpec("orbit direction", None, "orbit direction of both acquisitions"),
    "platform": VariableSpec(
        "platforms", None, "platforms of the acquisitions (reference/secondary)"
    ),
}
DATA_VARS = tuple(DATA_VARIABLES)
PAIR_COORDS = tuple(PAIR_COORDINATES)
#: Pair coordinates held as text (typed per Zarr format by ``empty_cube``).
TEXT_COORDS = ("pair", "orbit_state", "platform")
TIME_COORDS = ("reference_time", "secondary_time")


def pair_coords(pairs: pd.DataFrame) -> dict[str, Any]:
    """The cube's per-pair coordinates from a pair table (``select_pairs``)."""
    baseline = PAIR_COORDINATES["temporal_baseline"]
    return {
        "pair": ("pair", pairs["pair_id"].astype(str).to_numpy()),
        "reference_time": ("pair", pd.to_datetime(pairs["reference_time"]).to_numpy()),
        "secondary_time": ("pair", pd.to_datetime(pairs["secondary_time"]).to_numpy()),
        "temporal_baseline": (
            "pair",
            pairs["temporal_baseline_days"].to_numpy(np.float32),
            {"units": baseline.units, "long_name": baseline.long_name},
        ),
        "relative_orbit": ("pair", pairs["relative_orbit"].to_numpy(np.int32)),
        "orbit_state": ("pair", pairs["orbit_state"].astype(str).to_numpy()),
        "platform": (
            "pair",
            (
                pairs["reference_platform"].astype(str)
                + "/"
                + pairs["secondary_platform"].astype(str)
            ).to_numpy(),
        ),
    }


def encoded_pair_coords(dataset: xr.Dataset) -> dict[str, np.ndarray]:
    """The pair coordinates of ``dataset`` as stored on disk (times as int64 ``TIME_UNITS``)."""
    values: dict[str, np.ndarray] = {}
    for name in PAIR_COORDS:
        data = dataset[name].values
        if name in TIME_COORDS:
            seconds = (pd.to_datetime(data) - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
            data = np.asarray(seconds, dtype=np.int64)
        values[name] = data
    return values


def cube_encoding(
    dataset: xr.Dataset, shard_px: int, chunk_px: int, sharded: bool
) -> dict[str, dict[str, Any]]:
    """Zarr encoding of every variable: one pair per chunk (and shard) of the data arrays."""
    ny, nx = dataset.sizes["y"], dataset.sizes["x"]
    shard = (1, min(shard_px, ny), min(shard_px, nx))
    inner = (1, min(chunk_px, shard[1]), min(chunk_px, shard[2]))
    data_encoding: dict[str, Any] = {"chunks": inner, "_FillValue": np.float32(np.nan)}
    if sharded:
        data_encoding["shards"] = shard
    encoding: dict[str, dict[str, Any]] = {v: dict(data_encoding) for v in DATA_VARS}
    for name in TIME_COORDS:
        encoding[name] = {
            "units": TIME_UNITS,
            "dtype": "int64",
            "calendar": "proleptic_gregorian",
            "chunks": (COORD_CHUNK,),
        }
    for name in PAIR_COORDS:
        encoding.setdefault(name, {"chunks": (COORD_CHUNK,)})
    return encoding


def empty_cube(dataset: xr.Dataset, zarr_format: int) -> xr.Dataset:
    """A zero-pair cube shaped like ``dataset``: typed text, CF attributes, CRS, format marker."""
    template = dataset.isel(pair=slice(0, 0)).copy()
    # Zarr v3 specifies variable-length UTF-8 (its fixed-width type has no spec);
    # v2 stores fixed-width unicode, which every v2 reader (GDAL included) knows.
    text = np.dtypes.StringDType() if zarr_format == 3 else np.dtype("<U64")
    for name in TEXT_COORDS:
        template[name] = template[name].astype(text)
    for name, spec in DATA_VARIABLES.items():
        source = {k: v for k, v in dataset[name].attrs.items() if k not in ENCODING_ATTRS}
        template[name] = (
            ("pair", "y", "x"),
            np.zeros((0, template.sizes["y"], template.sizes["x"]), np.float32),
            source | spec.cf_attrs(),
        )
    template = template.rio.write_crs(dataset.rio.crs)
    for name in DATA_VARS:
        # Kept as an attribute: rioxarray's encoding entry does not survive every
        # round trip (corteva/rioxarray#815), GDAL and CF readers look for it here.
        template[name].encoding.pop("grid_mapping", None)
        template[name].attrs["grid_mapping"] = "spatial_ref"
    transform = dataset.rio.transform()
    template.attrs.update(
        {
            "cohcube:format": FORMAT,
            "cohcube:format_version": FORMAT_VERSION,
            "proj:code": f"EPSG:{dataset.rio.crs.to_epsg()}",
            "spatial:transform": list(transform)[:6],
            "spatial:dimensions": ["y", "x"],
            "spatial:shape": [dataset.sizes["y"], dataset.sizes["x"]],
            "Conventions": "CF-1.10",
        }
    )
    return template
