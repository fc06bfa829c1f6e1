"""Where training patches come from: the simulator, coregistered SLC rasters, OPERA CSLC bursts.

Part of the training configuration (``data.sources``, ``data.split``); every
section rejects unknown keys. Relative paths and globs are resolved against
the folder of the config file that names them (``load_training_config``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from cohcube.model.config_files import StrictSection

Polarization = Literal["VV", "VH"]


class _WeightedSource(StrictSection):
    weight: float = Field(
        1.0, gt=0, description="Share of each epoch's patches drawn from this source (relative)."
    )


class SimulatorSource(_WeightedSource):
    kind: Literal["simulator"] = "simulator"


class _SlcSource(_WeightedSource):
    max_baseline_days: float = Field(
        48.0, gt=0, description="Pairs are every two dates of one burst/stack at most this apart."
    )
    max_misregistration_px: float = Field(
        1.0,
        ge=0,
        le=3,
        description="Random shift of the secondary's detected grid, 10 m pixels, so the network "
        "does not learn to rely on a registration GRDs do not have (0: none).",
    )
    min_valid_fraction: float = Field(
        0.8, gt=0, le=1, description="Patches with fewer valid target pixels are skipped."
    )
    multilook_window_m: tuple[float, float] = Field(
        (20.0, 9.2),
        description="Box (rows, cols) in ground metres averaging SLC intensities into one 10 m "
        "pixel; the default gives Sentinel-1 SLC sampling the GRD's ENL of 4.4.",
    )
    coherence_window_m: tuple[float, float] = Field(
        (50.0, 50.0), description="Box (rows, cols) in ground metres of the SLC coherence target."
    )


class PairFiles(StrictSection):
    reference: str = Field(description="Reference (earlier) complex raster or CSLC file.")
    secondary: str = Field(description="Secondary (later) complex raster or CSLC file.")


class SlcPairsSource(_SlcSource):
    """Coregistered complex rasters GDAL reads (ISCE2 ``*.slc.full.vrt``, SNAP GeoTIFF)."""

    kind: Literal["slc_pairs"] = "slc_pairs"
    files: list[str] = Field(
        default_factory=list,
        description="Paths or globs of one coregistered stack; each path holds its date as "
        "YYYYMMDD (ISCE2: merged/SLC/20240101/20240101.slc.full.vrt). '{pol}' stands for "
        "each polarisation.",
    )
    pairs: list[PairFiles] = Field(
        default_factory=list, description="Explicit pairs instead of (or beside) files."
    )
    polarizations: tuple[Polarization, ...] = Field(
        ("VV",), min_length=1, description="Polarisations the rasters hold ('{pol}' in paths)."
    )
    band: int = Field(1, ge=1, description="Band read from every raster.")
    stack: str = Field(
        "stack", min_length=1, description="Name of this stack: the unit a split by burst keeps."
    )
    lat: str | None = Field(
        None,
        description="Latitude lookup raster of radar-geometry SLCs (ISCE2 "
        "geom_reference/lat.rdr); needed when the SLCs have no map grid.",
    )
    lon: str | None = Field(None, description="Longitude lookup raster (with lat).")

    @model_validator(mode="after")
    def _something_to_read(self) -> SlcPairsSource:
        if not self.files and not self.pairs:
            raise ValueError("an slc_pairs source needs files (paths or globs) or pairs")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon lookup rasters come together: give both or neither")
        return self


class OperaCslcSource(_SlcSource):
    """OPERA L2 CSLC-S1 HDF5 bursts (geocoded, coregistered, UTM)."""

    kind: Literal["opera_cslc"] = "opera_cslc"
    files: list[str] = Field(
        default_factory=list,
        description="Paths or globs of CSLC-S1 .h5 files; files of one burst id form a stack.",
    )
    pairs: list[PairFiles] = Field(
        default_factory=list, description="Explicit pairs instead of (or beside) files."
    )
    polarizations: tuple[Polarization, ...] = Field(
        ("VV",), min_length=1, description="Datasets /data/<pol> read from every file."
    )

    @model_validator(mode="after")
    def _something_to_read(self) -> OperaCslcSource:
        if not self.files and not self.pairs:
            raise ValueError("an opera_cslc source needs files (paths or globs) or pairs")
        return self


Source = Annotated[SimulatorSource | SlcPairsSource | OperaCslcSource, Field(discriminator="kind")]
SlcSource = SlcPairsSource | OperaCslcSource
AnySource = SimulatorSource | SlcPairsSource | OperaCslcSource


class SplitConfig(StrictSection):
    """How real patches are split so that no scene leaks between training and validation."""

    by: Literal["burst", "area"] = Field(
        "burst",
        description="burst: whole bursts (OPERA burst id, slc_pairs stack) per split; area: "
        "square blocks of block_m on the ground, every date of a block in one split.",
    )
    validation: float = Field(0.15, ge=0, lt=1, description="Share of units for validation.")
    test: float = Field(0.15, ge=0, lt=1, description="Share of units held out for testing.")
    validation_units: list[str] = Field(
        default_factory=list, description="Bursts/stacks for validation (by: burst; overrides)."
    )
    test_units: list[str] = Field(
        default_factory=list, description="Bursts/stacks held out for testing (by: burst)."
    )
    block_m: float = Field(5120.0, gt=0, description="Side of an area block, metres (by: area).")

    @model_validator(mode="after")
    def _shares(self) -> SplitConfig:
        if self.validation + self.test >= 1:
            raise ValueError("split.validation + split.test must leave a share for training")
        overlap = set(self.validation_units) & set(self.test_units)
        if overlap:
            raise ValueError(f"units in both validation and test: {sorted(overlap)}")
        return self

    @field_validator("validation_units", "test_units")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


def _resolved(path: str, base: Path) -> str:
    return path if Path(path).is_absolute() else str(base / path)


def resolve_paths(source: AnySource, base: Path) -> AnySource:
    """``source`` with relative paths and globs taken relative to ``base`` (the config's folder)."""
    if isinstance(source, SimulatorSource):
        return source
    update: dict[str, object] = {
        "files": [_resolved(f, base) for f in source.files],
        "pairs": [
            PairFiles(
                reference=_resolved(p.reference, base), secondary=_resolved(p.secondary, base)
            )
            for p in source.pairs
        ],
    }
    if isinstance(source, SlcPairsSource) and source.lat is not None and source.lon is not None:
        update.update(lat=_resolved(source.lat, base), lon=_resolved(source.lon, base))
    return source.model_copy(update=update)
