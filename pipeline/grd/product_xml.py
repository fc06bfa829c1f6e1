"""The XML documents of a Sentinel-1 Level-1 GRD product, parsed into arrays.

Readers for the four documents the GRD path needs, each from its bytes (the
caller fetches them from wherever the catalog points):

- calibration (``annotation/calibration/calibration-*.xml``): sigmaNought LUT
  vectors at irregular lines, each with its own pixel positions;
- noise (``annotation/calibration/noise-*.xml``): range vectors (IPF >= 2.9:
  ``noiseRangeVectorList``; before: ``noiseVectorList``/``noiseLut``) and,
  from IPF 2.9, azimuth vectors per block (swath x line range x sample range;
  ``count="0"`` in StripMap products);
- product annotation (``annotation/*.xml``): product type, mode, pass, image
  size, pixel spacing and the geolocation grid (GCPs);
- ``manifest.safe``: the IPF version.

Every vector keeps its own length: range vectors of one product do not share
pixel positions (a swath boundary adds a sample), so nothing here assumes a
regular LUT grid. The Python XML parser (expat >= 2.4) refuses entity
expansion bombs, which matters because catalogs are remote.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from cohcube.model.errors import InputDataError


class ProductXmlError(InputDataError):
    """A GRD product document that cannot be read or lacks what the reader needs."""


@dataclass(frozen=True)
class LutVectors:
    """LUT values given at irregular (line, pixel) positions.

    Attributes:
        lines: ``(n,)`` image line of each vector, ascending.
        pixels: ``n`` arrays of the pixel positions of each vector, ascending.
        values: ``n`` arrays of the LUT values at those pixels (same lengths).
    """

    lines: np.ndarray
    pixels: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class AzimuthNoiseBlock:
    """Azimuth noise factors of one block of the image (one swath, a line range).

    Attributes:
        swath: e.g. ``IW1``.
        first_line, last_line, first_sample, last_sample: inclusive image bounds.
        lines: ``(k,)`` lines the factors are given at; ``values``: ``(k,)`` factors.
    """

    swath: str
    first_line: int
    last_line: int
    first_sample: int
    last_sample: int
    lines: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class NoiseVectors:
    """Thermal noise power: range LUT vectors times per-block azimuth factors.

    ``azimuth`` is empty for the legacy schema (before IPF 2.9) and for products
    that publish no azimuth vectors: the factor is then 1 everywhere.
    """

    range: LutVectors
    azimuth: tuple[AzimuthNoiseBlock, ...]
    legacy_schema: bool


@dataclass(frozen=True)
class GroundControlPoint:
    """One geolocation grid point: image (line, pixel), WGS84 position, height and incidence.

    ``height_m`` is the height above the WGS84 ellipsoid the processor projected
    this line at; ``incidence_deg`` the local incidence angle (None when the
    source gives none, e.g. a GeoTIFF's GCPs).
    """

    line: float
    pixel: float
    lon: float
    lat: float
    height_m: float
    incidence_deg: float | None = None


@dataclass(frozen=True)
class ProductAnnotation:
    """What the GRD reader uses of the product annotation.

    Attributes:
        mission: ``S1A`` / ``S1B`` / ``S1C`` / ``S1D``.
        product_type: ``GRD`` (``SLC`` and others are refused by the reader).
        mode: ``IW``, ``EW``, ``S1``-``S6`` (StripMap) or ``WV``.
        polarisation: e.g. ``VV``.
        pass_direction: ``ascending`` or ``descending``.
        shape: ``(lines, samples)`` of the measurement raster.
        pixel_spacing_m: ``(azimuth, range)`` ground pixel spacing, metres.
        gcps: the geolocation grid.
    """

    mission: str
    product_type: str
    mode: str
    polarisation: str
    pass_direction: str
    shape: tuple[int, int]
    pixel_spacing_m: tuple[float, float]
    gcps: tuple[GroundControlPoint, ...]


def _root(document: bytes, name: str, expected: str) -> ET.Element:
    try:
        root = ET.fromstring(document)
    except ET.ParseError as error:
        raise ProductXmlError(
            f"{name} is not well-formed XML ({error}); the file is corrupt or truncated: "
            "fetch it again or drop this scene"
        ) from None
    if root.tag != expected:
        raise ProductXmlError(
            f"{name} is a <{root.tag}> document, not <{expected}>: the catalog points this "
            "asset at the wrong file"
        )
    return root


def _numbers(element: ET.Element | None, name: str, what: str) -> np.ndarray:
    if element is None or element.text is None:
        raise ProductXmlError(f"{name} has no {what}; the document is incomplete")
    try:
        return np.array(element.text.split(), dtype=np.float64)
    except ValueError:
        raise ProductXmlError(f"{name}: {what} holds non-numeric values") from None


def _text(root: ET.Element, path: str, name: str) -> str:
    found = root.find(path)
    if found is None or not (found.text or "").strip():
        raise ProductXmlError(f"{name} has no {path}; the document is incomplete")
    return (found.text or "").strip()


def _lut_vectors(vectors: list[ET.Element], value_tag: str, name: str, what: str) -> LutVectors:
    if not vectors:
        raise ProductXmlError(f"{name} holds no {what} vectors")
    lines, pixels, values = [], [], []
    for vector in vectors:
        line = vector.find("line")
        lines.append(float(_numbers(line, name, "vector line")[0]))
        pixel = _numbers(vector.find("pixel"), name, f"{what} pixels")
        value = _numbers(vector.find(value_tag), name, value_tag)
        if pixel.size != value.size:
            raise ProductXmlError(
                f"{name}: a {what} vector at line {lines[-1]:.0f} has {pixel.size} pixels "
                f"but {value.size} values"
            )
        pixels.append(pixel)
        values.append(value)
    order = np.argsort(lines, kind="stable")
    return LutVectors(
        np.asarray(lines)[order],
        tuple(pixels[i] for i in order),
        tuple(values[i] for i in order),
    )


def parse_calibration(document: bytes, name: str = "calibration XML") -> LutVectors:
    """The sigmaNought LUT vectors of a calibration document (amplitude units)."""
    root = _root(document, name, "calibration")
    vectors = root.findall("calibrationVectorList/calibrationVector")
    return _lut_vectors(vectors, "sigmaNought", name, "calibration")


def parse_noise(document: bytes, name: str = "noise XML") -> NoiseVectors:
    """Thermal noise vectors of a noise document, either schema (power units)."""
    root = _root(document, name, "noise")
    modern = root.findall("noiseRangeVectorList/noiseRangeVector")
    if modern:
        range_vectors = _lut_vectors(modern, "noiseRangeLut", name, "noise range")
    else:
        legacy = root.findall("noiseVectorList/noiseVector")
        range_vectors = _lut_vectors(legacy, "noiseLut", name, "noise")
    blocks = []
    for block in root.findall("noiseAzimuthVectorList/noiseAzimuthVector"):
        lines = _numbers(block.find("line"), name, "azimuth noise lines")
        values = _numbers(block.find("noiseAzimuthLut"), name, "noiseAzimuthLut")
        if lines.size != values.size:
            raise ProductXmlError(f"{name}: an azimuth noise block has mismatched lengths")
        blocks.append(
            AzimuthNoiseBlock(
                swath=(block.findtext("swath") or "").strip(),
                first_line=int(_text(block, "firstAzimuthLine", name)),
                last_line=int(_text(block, "lastAzimuthLine", name)),
                first_sample=int(_text(block, "firstRangeSample", name)),
                last_sample=int(_text(block, "lastRangeSample", name)),
                lines=lines,
                values=values,
            )
        )
    return NoiseVectors(range_vectors, tuple(blocks), legacy_schema=not modern)


def parse_annotation(document: bytes, name: str = "product annotation XML") -> ProductAnnotation:
    """Product type, mode, geometry and GCPs of a product annotation document."""
    root = _root(document, name, "product")
    gcps = tuple(
        GroundControlPoint(
            line=float(_text(point, "line", name)),
            pixel=float(_text(point, "pixel", name)),
            lon=float(_text(point, "longitude", name)),
            lat=float(_text(point, "latitude", name)),
            height_m=float(_text(point, "height", name)),
            incidence_deg=float(point.findtext("incidenceAngle") or "nan"),
        )
        for point in root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    )
    info = "imageAnnotation/imageInformation"
    return ProductAnnotation(
        mission=_text(root, "adsHeader/missionId", name),
        product_type=_text(root, "adsHeader/productType", name),
        mode=_text(root, "adsHeader/mode", name),
        polarisation=_text(root, "adsHeader/polarisation", name),
        pass_direction=_text(root, "generalAnnotation/productInformation/pass", name).lower(),
        shape=(
            int(_text(root, f"{info}/numberOfLines", name)),
            int(_text(root, f"{info}/numberOfSamples", name)),
        ),
        pixel_spacing_m=(
            float(_text(root, f"{info}/azimuthPixelSpacing", name)),
            float(_text(root, f"{info}/rangePixelSpacing", name)),
        ),
        gcps=gcps,
    )


def parse_ipf_version(document: bytes, name: str = "manifest.safe") -> str:
    """The IPF (processor) version a product was made with, e.g. ``003.40``."""
    match = re.search(rb'name="Sentinel-1 IPF"\s+version="([0-9.]+)"', document)
    if match is None:
        raise ProductXmlError(f"{name} names no Sentinel-1 IPF version")
    return match.group(1).decode()


def ipf_at_least(version: str, minimum: tuple[int, int]) -> bool:
    """Whether IPF ``version`` (e.g. ``002.36``) is at least ``minimum`` (e.g. ``(2, 90)``)."""
    major, _, minor = version.partition(".")
    return (int(major), int(minor or 0)) >= minimum
