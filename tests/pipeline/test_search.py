"""Search: a real STAC API on loopback and a local catalog give the same scenes."""

from __future__ import annotations

import re
from pathlib import Path

import pystac
import pytest
from support.served import ServedCatalog

from cohcube.pipeline.errors import CatalogUnreachableError, EmptySearchError, SearchError
from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.search import SceneQuery, parse_datetime_range, search_scenes

QUERIES = [
    SceneQuery(),
    SceneQuery(datetime="2026-03-01/2026-03-20"),
    SceneQuery(datetime="2026-03"),
    SceneQuery(platforms=("sentinel-1c",)),
    SceneQuery(platforms=("SENTINEL-1A",), datetime="2026-03-10/.."),
    SceneQuery(polarizations=("VV",), orbit_state="ascending", relative_orbits=(73,)),
    SceneQuery(bbox=(16.3, 46.9, 16.35, 46.95)),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.describe()[:60])
def test_api_and_local_catalog_agree(
    query: SceneQuery, small_sample: SampleCatalog, served_sample: ServedCatalog
) -> None:
    local = search_scenes(small_sample.items, query)
    remote = search_scenes(served_sample.api_url, query)
    assert [i.id for i in remote] == [i.id for i in local]
    assert local


def test_filters_select_what_they_say(small_sample: SampleCatalog) -> None:
    everything = search_scenes(small_sample.items, SceneQuery())
    assert len(everything) == 28  # 14 passes x 2 slices
    only_c = search_scenes(small_sample.items, SceneQuery(platforms=("sentinel-1c",)))
    assert len(only_c) == 14
    assert {i.properties["platform"] for i in only_c} == {"SENTINEL-1C"}
    march = search_scenes(small_sample.items, SceneQuery(datetime="2026-03-01/2026-03-20"))
    assert {i.datetime.day for i in march} == {2, 8, 14, 20}
    times = [i.datetime for i in everything]
    assert times == sorted(times)


def test_static_catalog_is_read_like_an_item_collection(
    small_sample: SampleCatalog, tmp_path: Path
) -> None:
    catalog = pystac.Catalog("static", "a static catalog")
    for item in pystac.ItemCollection.from_file(str(small_sample.items)):
        catalog.add_item(item)
    catalog.normalize_and_save(str(tmp_path), pystac.CatalogType.SELF_CONTAINED)
    found = search_scenes(tmp_path / "catalog.json", SceneQuery(datetime="2026-03"))
    local = search_scenes(small_sample.items, SceneQuery(datetime="2026-03"))
    assert sorted(i.id for i in found) == sorted(i.id for i in local)


def test_errors_are_clear(small_sample: SampleCatalog, served_sample: ServedCatalog) -> None:
    with pytest.raises(EmptySearchError, match="no scene"):
        search_scenes(small_sample.items, SceneQuery(datetime="2020-01-01/2020-02-01"))
    with pytest.raises(EmptySearchError, match="no scene"):
        search_scenes(served_sample.api_url, SceneQuery(bbox=(0.0, 0.0, 1.0, 1.0)))
    with pytest.raises(EmptySearchError, match=r"polarisations HH: 0 of \d+ \(present: VH, VV\)"):
        search_scenes(served_sample.api_url, SceneQuery(polarizations=("HH",)))
    # The filter that removed the scenes is named, not the polarisations they do carry.
    with pytest.raises(EmptySearchError) as wrong_direction:
        search_scenes(small_sample.items, SceneQuery(orbit_state="descending"))
    message = str(wrong_direction.value)
    assert re.search(r"descending passes: 0 of \d+ \(present: ascending\)$", message), message
    assert "polarisations" not in message
    with pytest.raises(CatalogUnreachableError, match="cannot reach"):
        search_scenes("http://127.0.0.1:9/", SceneQuery(), retries=0, timeout_s=2)
    with pytest.raises(CatalogUnreachableError, match="does not exist"):
        search_scenes(small_sample.root / "nope.json", SceneQuery())


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ((10.0, 45.0, 9.0, 46.0), "west"),
        ((10.0, 95.0, 11.0, 96.0), "latitudes"),
        ((10.0, 46.0, 11.0, 45.0), "south"),
        ((10.0, 45.0, 11.0), "west, south"),
    ],
)
def test_bad_bbox_is_refused(bbox: tuple[float, ...], message: str) -> None:
    with pytest.raises(SearchError, match=message):
        SceneQuery(bbox=bbox)  # type: ignore[arg-type]


def test_datetime_ranges() -> None:
    start, end = parse_datetime_range("2026-03")
    assert (start.isoformat(), end.isoformat()) == (  # type: ignore[union-attr]
        "2026-03-01T00:00:00+00:00",
        "2026-03-31T23:59:59.999999+00:00",
    )
    assert parse_datetime_range("../2026-01-01")[0] is None
    with pytest.raises(SearchError, match="RFC 3339"):
        parse_datetime_range("yesterday")
    with pytest.raises(SearchError, match="before the start"):
        parse_datetime_range("2026-02-01/2026-01-01")


def test_modifier_signs_every_returned_item(
    small_sample: SampleCatalog, served_sample: ServedCatalog
) -> None:
    # The shape of planetary_computer.sign_inplace: mutate asset hrefs in place, on
    # whatever pystac-client hands over (a page of item dicts, or items).
    def sign(obj: object) -> None:
        if isinstance(obj, pystac.Item):
            for asset in obj.assets.values():
                asset.href += "?sig=token"
        elif isinstance(obj, dict):
            for feature in obj.get("features", []):
                for asset in feature["assets"].values():
                    asset["href"] += "?sig=token"

    for catalog in (small_sample.items, served_sample.api_url):
        scenes = search_scenes(catalog, SceneQuery(datetime="2026-03-02"), modifier=sign)
        assert scenes
        assert all(a.href.endswith("?sig=token") for i in scenes for a in i.assets.values())
