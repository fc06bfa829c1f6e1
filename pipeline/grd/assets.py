"""Which asset of a GRD STAC item holds what, in each catalog's naming, and reading them.

Catalogs name the assets of one GRD product differently:

- Earth Search ``sentinel-1-grd``: ``vv``, ``schema-calibration-vv``,
  ``schema-noise-vv``, ``schema-product-vv``, ``safe-manifest``; shortened
  file names (``measurement/iw-vv.tiff``); requester-pays ``s3://`` hrefs;
- Planetary Computer ``sentinel-1-grd``: the same keys, signed ``https`` hrefs;
- CDSE ``sentinel-1-grd``: the manifest under ``safe_manifest``; full SAFE names.

Earth Search and Planetary Computer point ``schema-product-<pol>`` at the RFI
annotation (``annotation/rfi/rfi-*.xml``), not the product annotation; the
product annotation is then derived from the calibration href, which every
catalog gets right (``annotation/calibration/calibration-X.xml`` ->
``annotation/X.xml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pystac
import requests
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ..asset_policy import redacted, redacted_message
from ..errors import AssetReadError, NotAnalysisReadyError
from ..scene_items import requester_pays

_GRD_ID = re.compile(r"_GRD[HMF]?_")


def product_type(item: pystac.Item) -> str | None:
    """The product type an item declares (``GRD``, ``RTC``, ...), upper case, or None."""
    for key in ("sar:product_type", "product:type", "s1:product_type"):
        value = item.properties.get(key)
        if value:
            return str(value).upper()
    return "GRD" if _GRD_ID.search(item.id) else None


def is_grd_item(item: pystac.Item) -> bool:
    """Whether an item is a Level-1 GRD product (radar geometry, DNs, GCPs).

    The product type alone does not tell: RTC items made from GRD (Planetary
    Computer ``sentinel-1-rtc``) say ``sar:product_type: GRD`` too. A Level-1
    item also carries its calibration documents, or comes from a ``*-grd``
    collection; ``product:type`` values such as ``IW_GRDH_1S`` (CDSE) count.
    """
    kind = product_type(item) or ""
    if not (kind == "GRD" or re.match(r"^[A-Z0-9]{2}_GRD[HMF]?(_|$)", kind)):
        return False
    collection = (item.collection_id or "").lower()
    if "rtc" in collection:
        return False
    has_calibration = any(
        key.lower().startswith(("schema-calibration", "schema_calibration"))
        or "/annotation/calibration/" in (asset.href or "")
        for key, asset in item.assets.items()
    )
    return has_calibration or "grd" in collection


@dataclass(frozen=True)
class GrdAssets:
    """The hrefs of one polarisation of one GRD product.

    Attributes:
        polarisation: lower case, e.g. ``vv``.
        measurement: the uint16 DN raster (GeoTIFF/COG with GCPs).
        calibration, noise, annotation: the three XML documents.
        manifest: ``manifest.safe`` (for the IPF version), or None.
        requester_pays: the hrefs are requester-pays S3 objects.
    """

    polarisation: str
    measurement: str
    calibration: str
    noise: str
    annotation: str
    manifest: str | None
    requester_pays: bool


def _href(item: pystac.Item, key: str) -> str:
    asset = item.assets[key]
    return asset.get_absolute_href() or asset.href


def _find(item: pystac.Item, keys: tuple[str, ...], pattern: str) -> str | None:
    lowered = {k.lower(): k for k in item.assets}
    for key in keys:
        if key in lowered:
            return _href(item, lowered[key])
    regex = re.compile(pattern, re.IGNORECASE)
    for key in item.assets:
        href = _href(item, key)
        if regex.search(urlsplit(href).path):
            return href
    return None


def _product_annotation(item: pystac.Item, pol: str, calibration: str) -> str:
    given = _find(item, (f"schema-product-{pol}", f"schema_product_{pol}"), r"$^")
    if given is not None and "/rfi/" not in given and "rfi-" not in Path(given).name:
        return given
    parts = urlsplit(calibration)
    path = re.sub(r"/calibration/calibration-([^/]+)$", r"/\1", parts.path)
    if path == parts.path:
        raise NotAnalysisReadyError(
            f"scene {item.id}: cannot derive the product annotation of polarisation {pol!r} "
            f"from the calibration href {redacted(calibration)} (expected "
            "'.../annotation/calibration/calibration-<name>.xml'); the catalog's "
            f"'schema-product-{pol}' points at {redacted(given or 'nothing')}"
        )
    return urlunsplit(parts._replace(path=path))


def grd_assets(item: pystac.Item, polarisation: str) -> GrdAssets:
    """Resolve the hrefs of one polarisation of a GRD item, whichever catalog made it.

    Raises:
        NotAnalysisReadyError: a measurement, calibration or noise asset is
            missing, naming the item, the polarisation and the assets it has.
    """
    pol = polarisation.lower()
    found = {
        "measurement": _find(item, (pol,), rf"/measurement/[^/]*-{pol}[-.][^/]*tiff?$"),
        "calibration": _find(
            item,
            (f"schema-calibration-{pol}", f"schema_calibration_{pol}", f"calibration-{pol}"),
            rf"/calibration/calibration-[^/]*-{pol}[-.][^/]*xml$",
        ),
        "noise": _find(
            item,
            (f"schema-noise-{pol}", f"schema_noise_{pol}", f"noise-{pol}"),
            rf"/calibration/noise-[^/]*-{pol}[-.][^/]*xml$",
        ),
    }
    missing = [what for what, href in found.items() if href is None]
    if missing:
        raise NotAnalysisReadyError(
            f"GRD scene {item.id} has no {' or '.join(missing)} asset for polarisation "
            f"{pol!r} (assets: {sorted(item.assets)}); calibrating it needs the measurement, "
            "calibration and noise files: use a catalog that publishes them (Earth Search, "
            "Planetary Computer or CDSE 'sentinel-1-grd') or drop the scene"
        )
    calibration = str(found["calibration"])
    return GrdAssets(
        polarisation=pol,
        measurement=str(found["measurement"]),
        calibration=calibration,
        noise=str(found["noise"]),
        annotation=_product_annotation(item, pol, calibration),
        manifest=_find(item, ("safe-manifest", "safe_manifest", "manifest"), r"manifest\.safe$"),
        requester_pays=requester_pays(item),
    )


def _transient(error: BaseException) -> bool:
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return error.response.status_code == 429 or error.response.status_code >= 500
    return isinstance(error, requests.ConnectionError | requests.Timeout)


def read_document(href: str, requester_pays: bool = False, timeout_s: float = 20.0) -> bytes:
    """The bytes of an XML asset: a local path, ``http(s)`` (retried) or ``s3://`` (s3fs).

    Raises:
        AssetReadError: naming the (redacted) href and the cause.
    """
    scheme = urlsplit(href).scheme.lower()
    try:
        if scheme in ("", "file") or len(scheme) == 1:
            return Path(urlsplit(href).path if scheme == "file" else href).read_bytes()
        if scheme in ("http", "https"):
            for attempt in Retrying(
                stop=stop_after_attempt(6),
                wait=wait_exponential(multiplier=0.25, max=4),
                retry=retry_if_exception(_transient),
                reraise=True,
            ):
                with attempt:
                    response = requests.get(href, timeout=timeout_s)
                    response.raise_for_status()
                    return response.content
        if scheme == "s3":
            return _read_s3(href, requester_pays)
    except (OSError, requests.RequestException) as error:
        raise AssetReadError(
            f"cannot read {redacted(href)}: {redacted_message(str(error))}"
        ) from None
    raise AssetReadError(f"cannot read {redacted(href)}: unsupported scheme {scheme!r}")


def _read_s3(href: str, requester_pays: bool) -> bytes:
    try:
        import s3fs  # type: ignore[import-not-found, import-untyped, unused-ignore]  # the s3 extra
    except ImportError:
        raise AssetReadError(
            f"{redacted(href)} is on S3; reading GRD metadata from S3 needs s3fs: "
            "pip install 'cohcube[s3]' (credentials come from the environment)"
        ) from None
    filesystem = s3fs.S3FileSystem(requester_pays=requester_pays)
    with filesystem.open(href, "rb") as handle:
        data: bytes = handle.read()
    return data
