"""The regional job's configuration: one YAML file, validated, overridable from the environment.

Unknown keys and wrong types are errors that name the field. Any field can be
overridden by an environment variable ``COHCUBE_<SECTION>__<FIELD>`` (e.g.
``COHCUBE_OUTPUT__STORE=s3://bucket/cube.zarr``, ``COHCUBE_CLUSTER__ADDRESS``),
which wins over the file -- handy for schedulers that template secrets and
paths per environment.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pystac
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cohcube.model.config_files import StrictSection, commented_template, load_config_file
from cohcube.model.errors import ConfigError
from cohcube.pipeline.grd.terrain import DEFAULT_DEM_COLLECTION

from .cluster_config import ClusterConfig

ENV_PREFIX = "COHCUBE_"


_Section = StrictSection


class RegionConfig(_Section):
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="WGS84 (west, south, east, north) in degrees."
    )
    geojson: Path | None = Field(
        None, description="GeoJSON file (geometry, Feature or FeatureCollection) in WGS84."
    )

    @model_validator(mode="after")
    def _one_of(self) -> RegionConfig:
        if (self.bbox is None) == (self.geojson is None):
            raise ValueError("give exactly one of region.bbox or region.geojson")
        return self

    def geometry(self) -> dict[str, Any]:
        """The region as a GeoJSON geometry (WGS84)."""
        if self.bbox is not None:
            w, s, e, n = self.bbox
            return {
                "type": "Polygon",
                "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]],
            }
        assert self.geojson is not None
        try:
            document = json.loads(self.geojson.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"region.geojson: cannot read {self.geojson}: {exc}") from None
        kind = document.get("type")
        if kind == "FeatureCollection":
            geometries = [f["geometry"] for f in document.get("features", []) if f.get("geometry")]
            if not geometries:
                raise ConfigError(f"region.geojson: {self.geojson} has no features")
            return {"type": "GeometryCollection", "geometries": geometries}
        if kind == "Feature":
            return dict(document["geometry"])
        return dict(document)


class TimeConfig(_Section):
    start: dt.datetime | Literal["last-run"] | None = Field(
        None,
        description="First acquisition time (UTC); 'last-run' = continue after what the "
        "store holds; none = from the beginning of the catalog.",
    )
    end: dt.datetime | None = Field(None, description="Last acquisition time (UTC); none = now.")

    @model_validator(mode="after")
    def _ordered(self) -> TimeConfig:
        if isinstance(self.start, dt.datetime) and self.end is not None:
            start, end = _utc(self.start), _utc(self.end)
            if end <= start:
                raise ValueError(f"time.end ({self.end}) must be after time.start ({self.start})")
        return self


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class PairConfig(_Section):
    policy: Literal["fixed", "nearest", "all"] = Field(
        "fixed", description="fixed baselines, nearest predecessor, or all pairs up to a maximum."
    )
    baselines_days: tuple[float, ...] = Field((12.0,), description="Baselines for 'fixed', days.")
    tolerance_days: float = Field(1.0, ge=0, description="Slack on each fixed baseline, days.")
    max_baseline_days: float | None = Field(None, gt=0, description="Longest baseline, days.")


class GridConfig(_Section):
    resolution_m: float = Field(10.0, gt=0, description="Output pixel size, metres.")
    tile_px: int = Field(
        2048, ge=64, description="Tile side in pixels (tiles of one UTM zone, fixed lattice)."
    )


class GrdConfig(_Section):
    thermal_noise: bool = Field(
        True, description="Level-1 GRD scenes: remove the thermal noise (noise LUTs)."
    )
    border_noise: bool = Field(
        False, description="Level-1 GRD scenes of IPF < 2.9: mask the border-noise strips."
    )
    terrain: Literal["ellipsoid", "dem"] = Field(
        "ellipsoid",
        description="Geocode at the processor's reference heights ('ellipsoid') or at a "
        "DEM's heights found through STAC ('dem', undoes foreshortening on relief).",
    )
    dem_catalog: str | None = Field(
        None, description="STAC API URL or local catalog with the DEM; none = the job's catalog."
    )
    dem_collection: str = Field(DEFAULT_DEM_COLLECTION, description="DEM collection id.")
    dem_asset: str = Field("data", description="Asset key of the DEM rasters.")
    geoid_offset_m: float | None = Field(
        None,
        description="Metres added to DEM heights to make them ellipsoidal (GLO-30 is EGM2008); "
        "none = estimated per scene from its GCP heights.",
    )


class OutputConfig(_Section):
    store: str = Field(description="Output Zarr store: local path or fsspec URL.")


class ProcessConfig(BaseSettings):
    """Everything ``cohcube process`` needs."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        nested_model_default_partial_update=True,
    )

    region: RegionConfig = Field(description="Area to process.")
    output: OutputConfig = Field(description="Where the cube goes.")
    catalog: str | None = Field(
        None, description="STAC API URL or local catalog file; none = the embedded sample."
    )
    catalog_token_env: str | None = Field(
        None,
        description="Name of an environment variable holding a bearer token for the STAC API "
        "(sent as 'Authorization: Bearer ...'; the token itself never goes in the file, the "
        "logs or the store).",
    )
    sign_assets: Literal["none", "planetary-computer"] = Field(
        "none",
        description="Sign asset URLs of the found items: 'planetary-computer' uses the "
        "planetary-computer package (pip install planetary-computer) for that catalog's "
        "short-lived SAS tokens.",
    )
    collection: str = Field("sentinel-1-rtc", description="STAC collection id.")
    polarizations: tuple[Literal["VV", "VH"], ...] = Field(
        ("VV", "VH"), min_length=1, description="Bands to stack (must cover the model's)."
    )
    orbit_state: Literal["ascending", "descending"] | None = Field(
        None, description="Only passes of this direction."
    )
    relative_orbits: tuple[int, ...] = Field((), description="Only these relative orbits.")
    time: TimeConfig = Field(default_factory=TimeConfig, description="Acquisition time range.")
    pairs: PairConfig = Field(default_factory=PairConfig, description="Pair policy.")
    grid: GridConfig = Field(default_factory=GridConfig, description="Output tile grid.")
    cluster: ClusterConfig = Field(default_factory=ClusterConfig, description="Dask cluster.")
    grd: GrdConfig = Field(
        default_factory=GrdConfig,
        description="Calibration of Level-1 GRD collections (sentinel-1-grd); RTC ignores it.",
    )
    model: Path | None = Field(None, description="Model card or .pt; none = the shipped model.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Inference precision: 'auto' = bf16 on CPUs with AMX/AVX-512-BF16 and on "
        "GPUs with bf16, fp16 on older GPUs, fp32 elsewhere (each worker picks for its own "
        "device); the model card records each precision's measured difference from fp32.",
    )
    on_unreadable: Literal["stop", "skip"] = Field(
        "stop",
        description="A scene whose assets cannot be read (after retries) or hold no valid "
        "pixel: 'stop' the run before marking anything complete, or 'skip' the scene and "
        "record it in the run log.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file (passed as init values).
        return (env_settings, init_settings)


def bearer_headers(variable: str | None, field: str = "catalog_token_env") -> dict[str, str]:
    """HTTP headers carrying the bearer token held by environment ``variable`` (none: no headers).

    Raises:
        ConfigError: the variable is named but not set (naming ``field`` and the variable).
    """
    if variable is None:
        return {}
    token = os.environ.get(variable, "").strip()
    if not token:
        raise ConfigError(
            f"{field}: the environment variable {variable} is not set; export the STAC API "
            "token in it (or remove the setting for an open API)"
        )
    return {"Authorization": f"Bearer {token}"}


Signer = Callable[[pystac.Item], pystac.Item]


def asset_signer(kind: str) -> Signer | None:
    """What signs a scene's asset URLs for ``sign_assets``: a signed copy of the item, its
    token fetched (and renewed before it expires) by the signer's package; None: no signing.

    Raises:
        ConfigError: the signer's package is not installed (naming the install command).
    """
    if kind == "none":
        return None
    try:
        import planetary_computer
    except ImportError:
        raise ConfigError(
            "sign_assets: planetary-computer needs the planetary-computer package: "
            "pip install cohcube[planetary-computer]"
        ) from None
    signer: Signer = planetary_computer.sign_item
    return signer


def load_process_config(path: Path) -> ProcessConfig:
    """Read and validate a job config (YAML or TOML); environment overrides applied."""
    return load_config_file(path, lambda raw: ProcessConfig(**raw), ProcessConfig)


def process_config_template() -> str:
    """A commented job config: every field with its description and default (``cohcube config``)."""
    return commented_template(
        ProcessConfig,
        "cohcube process: the regional job's configuration (every field, its default).\n"
        "Set region and output.store, then run: cohcube process THIS_FILE\n"
        "Any field can be overridden by COHCUBE_<SECTION>__<FIELD>,\n"
        "e.g. COHCUBE_OUTPUT__STORE.",
        placeholders={
            "region.bbox": "[16.20, 48.10, 16.50, 48.30]",
            "output.store": "coherence-tiles",
        },
    )
