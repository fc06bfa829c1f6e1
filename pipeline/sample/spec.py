"""What the sample catalog holds (``SampleSpec``) and where its files are (``SampleCatalog``).

Equal specs give byte-identical catalogs; the spec's key names its cache folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cohcube.model.physics.change_events import ChangeKind

SAMPLE_FORMAT = 2  # 2: the changes truth maps the day each flood receded
#: True coherence is stored as uint8 steps of this size; 255 = no data.
TRUTH_SCALE = 0.004
TRUTH_NODATA = 255
CHANGE_KIND_CODES = {kind: code for code, kind in enumerate(ChangeKind, start=1)}


@dataclass(frozen=True)
class SampleSpec:
    """What the sample catalog holds; equal specs give byte-identical catalogs."""

    seed: int = 2026
    size_px: int = 2048
    pixel_m: float = 10.0
    epsg: int = 32633
    origin: tuple[float, float] = (600_000.0, 5_200_000.0)  # top-left corner, metres
    start: str = "2026-03-02T16:51:30Z"
    platforms: tuple[str, ...] = ("SENTINEL-1A", "SENTINEL-1C")
    acquisitions_per_platform: int = 7
    repeat_days: float = 12.0
    platform_offset_days: float = 6.0
    relative_orbit: int = 73
    orbit_state: str = "ascending"
    change_probability: float = 0.25
    max_misregistration_px: float = 0.5
    truth_baselines_days: tuple[float, ...] = (6.0, 12.0, 24.0)
    slice_overlap_px: int = 64
    block_px: int = 1024
    workers: int = 2
    #: ``rtc``: gamma0 COGs on the map grid (Planetary Computer ``sentinel-1-rtc``);
    #: ``grd``: Level-1 GRD products in radar geometry (Earth Search ``sentinel-1-grd``).
    source: str = "rtc"

    def acquisition_days(self) -> list[tuple[float, str]]:
        """``(day, platform)`` of every acquisition, in time order."""
        days = [
            (k * self.platform_offset_days + n * self.repeat_days, platform)
            for k, platform in enumerate(self.platforms)
            for n in range(self.acquisitions_per_platform)
        ]
        return sorted(days)

    def __post_init__(self) -> None:
        if self.source not in ("rtc", "grd"):
            raise ValueError(f"sample source {self.source!r}: use 'rtc' or 'grd'")

    def key(self) -> str:
        fields = asdict(self)
        if fields["source"] == "rtc":  # the key of RTC samples made before GRD existed
            del fields["source"]
        text = json.dumps({"spec": fields, "format": SAMPLE_FORMAT}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SampleCatalog:
    """Paths of a written sample catalog."""

    root: Path
    source: str = "rtc"

    @property
    def collection_id(self) -> str:
        return f"sentinel-1-{self.source}"

    @property
    def items(self) -> Path:
        """ItemCollection of the backscatter scenes (give this to ``search_scenes``)."""
        return self.root / self.collection_id / "items.json"

    @property
    def collection(self) -> Path:
        return self.root / self.collection_id / "collection.json"

    @property
    def truth_items(self) -> Path:
        return self.root / "truth" / "items.json"

    @property
    def truth_collection(self) -> Path:
        return self.root / "truth" / "collection.json"

    @property
    def manifest(self) -> Path:
        return self.root / "sample.json"
