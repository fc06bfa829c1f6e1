"""The real GRD reference files in ``../shared/data`` (tests skip when the folder is absent)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
METADATA = SHARED / "grd-metadata"


@dataclass(frozen=True)
class RealProduct:
    """One polarisation of a real product's documents."""

    name: str
    calibration: Path
    noise: Path
    annotation: Path
    manifest: Path


def real_products() -> list[RealProduct]:
    products = []
    for calibration in sorted(METADATA.glob("*/*.SAFE/annotation/calibration/calibration-*.xml")):
        safe = calibration.parents[2]
        products.append(
            RealProduct(
                name=f"{safe.name[:25]}-{calibration.name.split('-')[4]}",
                calibration=calibration,
                noise=calibration.with_name(calibration.name.replace("calibration-", "noise-")),
                annotation=safe / "annotation" / calibration.name.replace("calibration-", ""),
                manifest=safe / "manifest.safe",
            )
        )
    return products


PRODUCTS = real_products()
needs_shared = pytest.mark.skipif(not METADATA.is_dir(), reason="../shared/data is absent")


def product_params() -> list[object]:
    return [pytest.param(p, id=p.name) for p in PRODUCTS] or [
        pytest.param(None, marks=pytest.mark.skip(reason="../shared/data is absent"))
    ]
