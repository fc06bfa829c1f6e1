"""Sentinel-1 GRD product documents in the real XML layout, for the GRD-shaped sample.

The sample's GRD scenes carry calibration, noise, product annotation and
manifest documents with the element names, nesting and number formats of
real IPF 3.x products (the parts ``cohcube.pipeline.grd.product_xml`` reads,
plus the headers around them). The LUTs are smooth, realistic profiles: a
sigmaNought gain falling across range (~660 -> ~540, as in the shared real
products) and a noise floor with three IW sub-swaths (NESZ ~-25 dB in the
middle of each, ~-22 dB at its edges) and per-swath azimuth factors.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cohcube.pipeline.grd.product_xml import (
    AzimuthNoiseBlock,
    GroundControlPoint,
    LutVectors,
    NoiseVectors,
)

#: Spacing of LUT vectors along azimuth and of their samples along range, pixels.
LUT_LINE_STEP = 400
LUT_PIXEL_STEP = 40
SAMPLE_IPF = "003.71"


@dataclass(frozen=True)
class ProductHeader:
    """What every document's ``adsHeader`` says."""

    mission: str  # S1A / S1C
    polarisation: str  # VV / VH
    start: dt.datetime
    stop: dt.datetime
    absolute_orbit: int
    image_number: str


def sample_luts(shape: tuple[int, int], polarisation: str) -> tuple[LutVectors, NoiseVectors]:
    """Calibration gain and noise vectors of a ``shape`` (lines, samples) sample product."""
    lines, samples = shape
    vector_lines = np.unique(np.append(np.arange(0, lines, LUT_LINE_STEP), lines - 1)).astype(float)
    pixels = np.unique(np.append(np.arange(0, samples, LUT_PIXEL_STEP), samples - 1)).astype(float)
    fraction = pixels / max(samples - 1, 1)
    gain = 660.0 - 120.0 * fraction
    swath = np.minimum((fraction * 3).astype(int), 2)
    within = fraction * 3 - swath
    nesz_db = -25.0 + 3.0 * (2 * within - 1) ** 2 + (1.0 if polarisation.upper() == "VH" else 0.0)
    eta = 10 ** (nesz_db / 10) * gain**2
    calibration = LutVectors(
        vector_lines, tuple(pixels for _ in vector_lines), tuple(gain for _ in vector_lines)
    )
    range_noise = LutVectors(
        vector_lines, tuple(pixels for _ in vector_lines), tuple(eta for _ in vector_lines)
    )
    bounds = np.linspace(0, samples, 4).astype(int)
    az_lines = np.unique(np.append(np.arange(0, lines, 10), lines - 1)).astype(float)
    blocks = tuple(
        AzimuthNoiseBlock(
            swath=f"IW{k + 1}",
            first_line=0,
            last_line=lines - 1,
            first_sample=int(bounds[k]),
            last_sample=int(bounds[k + 1] - 1),
            lines=az_lines,
            values=1.0 + 0.05 * np.abs(np.sin(az_lines / 700.0 + k)),
        )
        for k in range(3)
    )
    return calibration, NoiseVectors(range_noise, blocks, legacy_schema=False)


def _header(parent: ET.Element, header: ProductHeader) -> None:
    ads = ET.SubElement(parent, "adsHeader")
    for tag, text in (
        ("missionId", header.mission),
        ("productType", "GRD"),
        ("polarisation", header.polarisation.upper()),
        ("mode", "IW"),
        ("swath", "IW"),
        ("startTime", _time(header.start)),
        ("stopTime", _time(header.stop)),
        ("absoluteOrbitNumber", str(header.absolute_orbit)),
        ("missionDataTakeId", str(header.absolute_orbit * 7 % 1_000_000)),
        ("imageNumber", header.image_number),
    ):
        ET.SubElement(ads, tag).text = text


def _time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _numbers(
    parent: ET.Element, tag: str, values: Sequence[float] | np.ndarray, integer: bool
) -> None:
    element = ET.SubElement(parent, tag, count=str(len(values)))
    element.text = " ".join(str(int(v)) if integer else f"{v:.6e}" for v in values)


def _line_time(header: ProductHeader, line: float, lines: int) -> str:
    return _time(header.start + (header.stop - header.start) * (line / max(lines - 1, 1)))


def _document(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def calibration_document(header: ProductHeader, gain: LutVectors, lines: int) -> bytes:
    """A ``<calibration>`` document with ``gain`` as sigmaNought (beta/gamma/dn alongside)."""
    root = ET.Element("calibration")
    _header(root, header)
    info = ET.SubElement(root, "calibrationInformation")
    ET.SubElement(info, "absoluteCalibrationConstant").text = "1.000000e+00"
    vectors = ET.SubElement(root, "calibrationVectorList", count=str(len(gain.lines)))
    for line, pixels, values in zip(gain.lines, gain.pixels, gain.values, strict=True):
        vector = ET.SubElement(vectors, "calibrationVector")
        ET.SubElement(vector, "azimuthTime").text = _line_time(header, line, lines)
        ET.SubElement(vector, "line").text = str(int(line))
        _numbers(vector, "pixel", pixels, integer=True)
        _numbers(vector, "sigmaNought", values, integer=False)
        _numbers(vector, "betaNought", np.full_like(values, 237.0), integer=False)
        _numbers(vector, "gamma", values * 0.92, integer=False)
        _numbers(vector, "dn", np.full_like(values, 237.0), integer=False)
    return _document(root)


def noise_document(header: ProductHeader, noise: NoiseVectors, lines: int) -> bytes:
    """A ``<noise>`` document in the IPF >= 2.9 schema (range vectors + azimuth blocks)."""
    root = ET.Element("noise")
    _header(root, header)
    ranges = ET.SubElement(root, "noiseRangeVectorList", count=str(len(noise.range.lines)))
    for line, pixels, values in zip(
        noise.range.lines, noise.range.pixels, noise.range.values, strict=True
    ):
        vector = ET.SubElement(ranges, "noiseRangeVector")
        ET.SubElement(vector, "azimuthTime").text = _line_time(header, line, lines)
        ET.SubElement(vector, "line").text = str(int(line))
        _numbers(vector, "pixel", pixels, integer=True)
        _numbers(vector, "noiseRangeLut", values, integer=False)
    azimuth = ET.SubElement(root, "noiseAzimuthVectorList", count=str(len(noise.azimuth)))
    for block in noise.azimuth:
        vector = ET.SubElement(azimuth, "noiseAzimuthVector")
        ET.SubElement(vector, "swath").text = block.swath
        ET.SubElement(vector, "firstAzimuthLine").text = str(block.first_line)
        ET.SubElement(vector, "firstRangeSample").text = str(block.first_sample)
        ET.SubElement(vector, "lastAzimuthLine").text = str(block.last_line)
        ET.SubElement(vector, "lastRangeSample").text = str(block.last_sample)
        _numbers(vector, "line", block.lines, integer=True)
        _numbers(vector, "noiseAzimuthLut", block.values, integer=False)
    return _document(root)


def annotation_document(
    header: ProductHeader,
    shape: tuple[int, int],
    pass_direction: str,
    gcps: Sequence[GroundControlPoint],
    pixel_m: float,
) -> bytes:
    """A ``<product>`` annotation: header, pass, image size and spacing, geolocation grid."""
    root = ET.Element("product")
    _header(root, header)
    general = ET.SubElement(root, "generalAnnotation")
    product = ET.SubElement(general, "productInformation")
    ET.SubElement(product, "pass").text = pass_direction.capitalize()
    ET.SubElement(product, "projection").text = "Ground Range"
    ET.SubElement(product, "radarFrequency").text = "5.405000454334350e+09"
    image = ET.SubElement(ET.SubElement(root, "imageAnnotation"), "imageInformation")
    ET.SubElement(image, "productFirstLineUtcTime").text = _time(header.start)
    ET.SubElement(image, "productLastLineUtcTime").text = _time(header.stop)
    ET.SubElement(image, "rangePixelSpacing").text = f"{pixel_m:.6e}"
    ET.SubElement(image, "azimuthPixelSpacing").text = f"{pixel_m:.6e}"
    ET.SubElement(image, "numberOfSamples").text = str(shape[1])
    ET.SubElement(image, "numberOfLines").text = str(shape[0])
    grid = ET.SubElement(ET.SubElement(root, "geolocationGrid"), "geolocationGridPointList")
    grid.set("count", str(len(gcps)))
    for gcp in gcps:
        point = ET.SubElement(grid, "geolocationGridPoint")
        ET.SubElement(point, "azimuthTime").text = _line_time(header, gcp.line, shape[0])
        ET.SubElement(point, "line").text = str(round(gcp.line))
        ET.SubElement(point, "pixel").text = str(round(gcp.pixel))
        ET.SubElement(point, "latitude").text = f"{gcp.lat:.15e}"
        ET.SubElement(point, "longitude").text = f"{gcp.lon:.15e}"
        ET.SubElement(point, "height").text = f"{gcp.height_m:.15e}"
        if gcp.incidence_deg is not None:
            ET.SubElement(point, "incidenceAngle").text = f"{gcp.incidence_deg:.15e}"
    return _document(root)


def manifest_document(ipf_version: str = SAMPLE_IPF) -> bytes:
    """A minimal ``manifest.safe`` naming the processor (IPF) version."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" '
        'xmlns:safe="http://www.esa.int/safe/sentinel-1.0" version="esa/safe/sentinel-1.0/'
        'sentinel-1/sar/level-1/standard/iw-dp">\n  <metadataSection>\n'
        '    <metadataObject ID="processing" classification="PROCESSING" category="PDI">\n'
        '      <metadataWrap><xmlData><safe:processing name="SLC Processing">\n'
        '        <safe:facility name="Copernicus S1 Core Ground Segment - cohcube sample">\n'
        f'          <safe:software name="Sentinel-1 IPF" version="{ipf_version}"/>\n'
        "        </safe:facility>\n      </safe:processing></xmlData></metadataWrap>\n"
        "    </metadataObject>\n  </metadataSection>\n</xfdu:XFDU>\n"
    ).encode()
