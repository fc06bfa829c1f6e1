"""Resolving a GRD item's files in Earth Search, Planetary Computer and CDSE naming."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path

import pystac
import pytest
from support.real_grd import SHARED

from cohcube.pipeline.errors import AssetReadError, NotAnalysisReadyError
from cohcube.pipeline.grd.assets import grd_assets, is_grd_item, read_document

STAC = SHARED / "stac"
needs_stac = pytest.mark.skipif(not STAC.is_dir(), reason="../shared/data is absent")


def earth_search_item() -> pystac.Item:
    path = STAC / "earth-search-sentinel-1-grd-items.json"
    return next(iter(pystac.ItemCollection.from_file(str(path))))


@needs_stac
def test_earth_search_item_shortened_names_and_rfi_trap() -> None:
    item = earth_search_item()
    assert is_grd_item(item)
    assets = grd_assets(item, "HH")
    base = assets.measurement.rsplit("/measurement/", 1)[0]
    assert assets.measurement == f"{base}/measurement/iw-hh.tiff"
    assert assets.calibration == f"{base}/annotation/calibration/calibration-iw-hh.xml"
    assert assets.noise == f"{base}/annotation/calibration/noise-iw-hh.xml"
    # schema-product-hh points at annotation/rfi/rfi-iw-hh.xml: the product annotation is derived.
    assert item.assets["schema-product-hh"].href.endswith("annotation/rfi/rfi-iw-hh.xml")
    assert assets.annotation == f"{base}/annotation/iw-hh.xml"
    assert assets.manifest == f"{base}/manifest.safe"
    assert assets.requester_pays  # storage extension (pystac migrates v1 to storage:schemes)


@needs_stac
def test_planetary_computer_item() -> None:
    item = pystac.Item.from_file(str(STAC / "planetary-computer-sentinel-1-grd-item.json"))
    assert is_grd_item(item)
    assets = grd_assets(item, "vh")
    assert assets.annotation.endswith("/annotation/iw-vh.xml")
    assert assets.measurement.endswith("/measurement/iw-vh.tiff")
    assert not assets.requester_pays


@needs_stac
def test_cdse_shaped_item_full_safe_names_and_safe_manifest_key() -> None:
    item = earth_search_item()
    cdse = copy.deepcopy(item)
    cdse.collection_id = "sentinel-1-grd"
    full = "s1a-iw-grd-hh-20250731t135702-20250731t135722-060328-077f7e-001"
    root = "s3://eodata/Sentinel-1/SAR/IW_GRDH_1S-COG/2025/07/31/X.SAFE"
    cdse.assets = {
        "HH": pystac.Asset(f"{root}/measurement/{full}.tiff"),
        "schema-calibration-hh": pystac.Asset(
            f"{root}/annotation/calibration/calibration-{full}.xml"
        ),
        "schema-noise-hh": pystac.Asset(f"{root}/annotation/calibration/noise-{full}.xml"),
        "schema-product-hh": pystac.Asset(f"{root}/annotation/{full}.xml"),
        "safe_manifest": pystac.Asset(f"{root}/manifest.safe"),
    }
    cdse.properties.pop("sar:product_type")
    cdse.properties["product:type"] = "IW_GRDH_1S-COG"
    assert is_grd_item(cdse)
    assets = grd_assets(cdse, "hh")
    assert assets.measurement.endswith(f"measurement/{full}.tiff")
    assert assets.annotation == f"{root}/annotation/{full}.xml"
    assert assets.manifest == f"{root}/manifest.safe"


def test_rtc_items_made_from_grd_are_not_level1() -> None:
    when = datetime.datetime(2026, 1, 1)
    properties = {"sar:product_type": "GRD"}
    item = pystac.Item(
        "S1A_IW_GRDH_1SDV_X_rtc", None, None, when, properties, collection="sentinel-1-rtc"
    )
    assert not is_grd_item(item)


@needs_stac
def test_missing_calibration_asset_names_what_is_there() -> None:
    item = earth_search_item()
    del item.assets["schema-calibration-hh"]
    with pytest.raises(
        NotAnalysisReadyError, match=r"no calibration asset for polarisation 'hh' \(assets: \["
    ) as error:
        grd_assets(item, "hh")
    assert "\n" not in str(error.value)


def test_documents_from_loopback_http_and_missing_files(tmp_path: Path, served_sample) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "noise-iw-vv.xml"
    with pytest.raises(AssetReadError, match=r"noise-iw-vv\.xml"):
        read_document(str(missing))
    url = served_sample.api_url + "/collections"
    assert read_document(url).startswith(b"{")
    with pytest.raises(AssetReadError, match="404") as error:
        read_document(served_sample.api_url + "/no/such/calibration.xml?token=secret")
    assert "secret" not in str(error.value)


def test_s3_without_s3fs_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def without_s3fs(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "s3fs":
            raise ImportError("no s3fs")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_s3fs)
    with pytest.raises(AssetReadError, match=r"needs s3fs: pip install 'cohcube\[s3\]'"):
        read_document("s3://bucket/annotation/calibration/calibration-iw-vv.xml", True)
