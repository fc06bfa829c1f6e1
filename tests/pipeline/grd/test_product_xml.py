"""Parsing the real annotation, calibration, noise and manifest documents of four products."""

from __future__ import annotations

import numpy as np
import pytest
from support.real_grd import PRODUCTS, RealProduct, needs_shared, product_params

from cohcube.pipeline.grd.product_xml import (
    ProductXmlError,
    ipf_at_least,
    parse_annotation,
    parse_calibration,
    parse_ipf_version,
    parse_noise,
)

#: What each product's documents hold (counted in the files).
EXPECTED = {
    "S1A_IW_GRDH_1SDV_20150222-vv": ("002.36", "IW", 27, 27, 0, True),
    "S1B_IW_GRDH_1SDV_20211223-vv": ("003.40", "IW", 27, 27, 3, False),
    "S1A_IW_GRDH_1SDV_20210809-vh": ("003.31", "IW", 27, 26, 3, False),
    "S1A_IW_GRDH_1SDV_20210809-vv": ("003.31", "IW", 27, 26, 3, False),
    "S1C_S4_GRDH_1SDH_20250118-hh": ("003.90", "S4", 20, 19, 0, False),
}


@pytest.mark.parametrize("product", product_params())
def test_real_documents_parse(product: RealProduct) -> None:
    ipf = parse_ipf_version(product.manifest.read_bytes())
    annotation = parse_annotation(product.annotation.read_bytes())
    calibration = parse_calibration(product.calibration.read_bytes())
    noise = parse_noise(product.noise.read_bytes())
    want_ipf, mode, n_cal, n_noise, n_blocks, legacy = EXPECTED[product.name]
    assert (ipf, annotation.mode) == (want_ipf, mode)
    assert (len(calibration.lines), len(noise.range.lines)) == (n_cal, n_noise)
    assert (len(noise.azimuth), noise.legacy_schema) == (n_blocks, legacy)
    assert annotation.product_type == "GRD"
    assert len(annotation.gcps) == 210
    lines, samples = annotation.shape
    assert all(0 <= g.line <= lines and 0 <= g.pixel <= samples for g in annotation.gcps)
    assert np.all(np.diff(calibration.lines) > 0)
    # Every vector keeps its own length; values are sigmaNought gains of a few hundred.
    assert all(
        p.size == v.size for p, v in zip(calibration.pixels, calibration.values, strict=True)
    )
    assert 100 < float(np.median(calibration.values[0])) < 1000
    for block in noise.azimuth:
        assert block.first_sample <= block.last_sample < samples
        assert block.lines.size == block.values.size


@needs_shared
def test_irregular_noise_vectors_are_kept_as_given() -> None:
    product = next(p for p in PRODUCTS if p.name == "S1A_IW_GRDH_1SDV_20210809-vh")
    noise = parse_noise(product.noise.read_bytes())
    # Range vectors carry extra samples at the sub-swath boundaries (8759, 8760, ...).
    assert any(np.any(np.diff(p) < 40) for p in noise.range.pixels)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<calibration><calibrationVectorList>", "not well-formed XML"),
        (b"<rfi><adsHeader/></rfi>", "is a <rfi> document, not <calibration>"),
        (b"<calibration><calibrationVectorList/></calibration>", "holds no calibration vectors"),
        (
            b"<calibration><calibrationVectorList><calibrationVector><line>0</line>"
            b"<pixel>0 40</pixel><sigmaNought>600</sigmaNought></calibrationVector>"
            b"</calibrationVectorList></calibration>",
            "has 2 pixels but 1 values",
        ),
    ],
)
def test_bad_documents_are_refused_in_one_line(document: bytes, message: str) -> None:
    with pytest.raises(ProductXmlError, match=message) as error:
        parse_calibration(document, "calibration-iw-vv.xml")
    assert "calibration-iw-vv.xml" in str(error.value)
    assert "\n" not in str(error.value)


def test_ipf_versions_compare_numerically() -> None:
    assert not ipf_at_least("002.36", (2, 90))
    assert ipf_at_least("002.91", (2, 90))
    assert ipf_at_least("003.40", (2, 90))
    with pytest.raises(ProductXmlError, match="names no Sentinel-1 IPF version"):
        parse_ipf_version(b"<xfdu/>")
