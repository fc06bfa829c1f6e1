"""Finding Sentinel-1 scenes: STAC API search or a local catalog, same semantics.

``search_scenes`` asks a STAC API (pystac-client, with retries and back-off on
transient HTTP errors) or reads a local static catalog / ItemCollection file
and applies the same spatial, temporal and collection filters to it. Filters
that many servers cannot apply (polarisation, orbit, platform) run
client-side for both, so a query gives the same scenes wherever the catalog lives.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pystac
import requests
from pystac_client import Client
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from requests.adapters import HTTPAdapter
from shapely.geometry import box, shape
from urllib3.util.retry import Retry

from .asset_policy import check_asset_hrefs, redacted
from .errors import CatalogUnreachableError, EmptySearchError, SearchError
from .scene_filters import matches_properties, why_none_matched
from .scene_items import item_time

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "sentinel-1-rtc"
#: Transient HTTP statuses that are retried with exponential back-off.
RETRY_STATUSES = (429, 500, 502, 503, 504)

Modifier = Callable[[Any], None]
#: Items per page asked of a STAC API (servers cap it: Planetary Computer at 1000): a year
#: over Europe (~30 000 items) is ~120 pages instead of the servers' default of 10 per page.
PAGE_SIZE = 250


@dataclass(frozen=True)
class SceneQuery:
    """What to search for.

    Attributes:
        collection: STAC collection id.
        bbox: ``(west, south, east, north)`` in degrees (WGS84).
        intersects: GeoJSON geometry (WGS84), instead of ``bbox``.
        datetime: RFC 3339 instant or interval ``start/end`` (``..`` open);
            ``YYYY``, ``YYYY-MM`` and ``YYYY-MM-DD`` cover the whole period.
        polarizations: every scene must carry all of these.
        orbit_state: ``"ascending"`` or ``"descending"``.
        relative_orbits: allowed relative orbit numbers.
        platforms: allowed platforms (case-insensitive, e.g. ``"sentinel-1a"``).
    """

    collection: str = DEFAULT_COLLECTION
    bbox: tuple[float, float, float, float] | None = None
    intersects: dict[str, Any] | None = None
    datetime: str | None = None
    polarizations: tuple[str, ...] = ("VV", "VH")
    orbit_state: str | None = None
    relative_orbits: tuple[int, ...] = ()
    platforms: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.bbox is not None:
            check_bbox(self.bbox)
        if self.bbox is not None and self.intersects is not None:
            raise SearchError("give either bbox or intersects, not both")
        if self.orbit_state not in (None, "ascending", "descending"):
            raise SearchError(
                f"orbit_state must be 'ascending' or 'descending', got {self.orbit_state!r}"
            )
        if self.datetime is not None:
            parse_datetime_range(self.datetime)

    def describe(self) -> str:
        """The whole query in words, for messages."""
        parts = [f"collection {self.collection!r}"]
        if self.bbox is not None:
            parts.append(f"bbox {list(self.bbox)}")
        if self.intersects is not None:
            bounds = [round(v, 4) for v in shape(self.intersects).bounds]
            parts.append(f"the area within {bounds}")
        if self.datetime:
            parts.append(f"datetime {self.datetime}")
        return ", ".join([*parts, self.describe_properties()])

    def describe_properties(self) -> str:
        """The client-side filters in words."""
        parts = [f"polarisations {'+'.join(self.polarizations)}"]
        if self.orbit_state:
            parts.append(f"{self.orbit_state} passes")
        if self.relative_orbits:
            parts.append(f"relative orbit(s) {list(self.relative_orbits)}")
        if self.platforms:
            parts.append(f"platform(s) {list(self.platforms)}")
        return ", ".join(parts)


def check_bbox(bbox: Sequence[float]) -> None:
    """Refuse a malformed WGS84 bbox with a message that says what is wrong."""
    if len(bbox) != 4:
        raise SearchError(f"bbox must be (west, south, east, north), got {list(bbox)}")
    west, south, east, north = (float(v) for v in bbox)
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise SearchError(f"bbox {list(bbox)}: longitudes must lie in [-180, 180]")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise SearchError(f"bbox {list(bbox)}: latitudes must lie in [-90, 90]")
    if west >= east:
        raise SearchError(
            f"bbox {list(bbox)}: west ({west}) must be less than east ({east}); "
            "an area across the antimeridian must be split into two searches"
        )
    if south >= north:
        raise SearchError(f"bbox {list(bbox)}: south ({south}) must be less than north ({north})")


def _parse_instant(text: str, end: bool) -> dt.datetime | None:
    if text in ("", ".."):
        return None
    try:
        if len(text) == 4:
            start = dt.datetime(int(text), 1, 1, tzinfo=dt.UTC)
            return (
                start.replace(year=start.year + 1) - dt.timedelta(microseconds=1) if end else start
            )
        if len(text) == 7:
            year, month = int(text[:4]), int(text[5:7])
            start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
            if not end:
                return start
            nxt = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)
            return nxt - dt.timedelta(microseconds=1)
        if len(text) == 10:
            day = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
            return day + dt.timedelta(days=1, microseconds=-1) if end else day
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SearchError(
            f"datetime {text!r} is not RFC 3339 (e.g. 2026-03-01 or 2026-03-01T10:00:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_datetime_range(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``start/end`` (either open) or one instant/period -> UTC bounds, inclusive."""
    if "/" in text:
        first, last = text.split("/", 1)
        start, end = _parse_instant(first, end=False), _parse_instant(last, end=True)
    else:
        start, end = _parse_instant(text, end=False), _parse_instant(text, end=True)
    if start is not None and end is not None and end < start:
        raise SearchError(f"datetime {text!r}: the end lies before the start")
    return start, end


def _matches_space_time(item: pystac.Item, query: SceneQuery) -> bool:
    if query.collection and item.collection_id not in (None, query.collection):
        return False
    if query.bbox is not None or query.intersects is not None:
        area = box(*query.bbox) if query.bbox is not None else shape(query.intersects or {})
        if item.geometry:
            footprint = shape(item.geometry)
        else:
            west, south, east, north = (float(v) for v in (item.bbox or [])[:4])
            footprint = box(west, south, east, north)
        if not footprint.intersects(area):
            return False
    if query.datetime:
        start, end = parse_datetime_range(query.datetime)
        when = item_time(item)
        if (start and when < start) or (end and when > end):
            return False
    return True


def read_local_items(path: Path) -> list[pystac.Item]:
    """All items of a local ItemCollection JSON, static catalog or collection."""
    if not path.exists():
        raise CatalogUnreachableError(f"catalog {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogUnreachableError(f"catalog {path} is not readable STAC JSON: {exc}") from None
    kind = data.get("type")
    if kind == "FeatureCollection":
        collection = pystac.ItemCollection.from_dict(data, preserve_dict=False)
        return list(collection.items)
    if kind == "Feature":
        return [pystac.Item.from_dict(data)]
    if kind in ("Catalog", "Collection"):
        catalog = pystac.read_file(str(path))
        assert isinstance(catalog, pystac.Catalog)
        return list(catalog.get_items(recursive=True))
    raise CatalogUnreachableError(
        f"{path} is neither a STAC ItemCollection, Item, Catalog nor Collection"
    )


class CredentialAdapter(HTTPAdapter):
    """Adds credential headers to requests for the catalog's own host, as they are sent.

    Not as session headers: pystac-client logs every request's headers at
    debug level before sending, and a next-page link to another host must
    not receive the catalog's token.
    """

    def __init__(self, headers: Mapping[str, str], catalog_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._headers = dict(headers)
        self._netloc = urlsplit(catalog_url).netloc

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        if urlsplit(request.url or "").netloc == self._netloc:
            request.headers.update(self._headers)
        return super().send(request, *args, **kwargs)


def _api_items(
    url: str,
    query: SceneQuery,
    modifier: Modifier | None,
    timeout_s: float,
    retries: int,
    max_items: int | None,
    headers: Mapping[str, str] | None,
    page_size: int = PAGE_SIZE,
) -> list[pystac.Item]:
    # Refused connections get two quick retries; HTTP 429/5xx answers the full budget.
    retry = Retry(
        total=retries,
        connect=min(2, retries),
        backoff_factor=0.5,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,
        raise_on_status=False,
    )
    where = redacted(url)  # for messages: no credentials or query string
    stac_io = StacApiIO(max_retries=retry, timeout=timeout_s)
    if headers:
        adapter = CredentialAdapter(headers, url, max_retries=retry)
        stac_io.session.mount("http://", adapter)
        stac_io.session.mount("https://", adapter)
    try:
        client = Client.open(url, stac_io=stac_io, modifier=modifier, timeout=timeout_s)
        search = client.search(
            collections=[query.collection],
            bbox=query.bbox,
            intersects=query.intersects,
            datetime=query.datetime,
            max_items=max_items,
            limit=page_size,
        )
        return list(search.items())
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise CatalogUnreachableError(
            f"cannot reach the STAC API at {where} ({type(exc).__name__}); check the "
            "URL and the network, or pass a local catalog path"
        ) from None
    except requests.exceptions.RetryError:
        raise CatalogUnreachableError(
            f"the STAC API at {where} kept failing after {retries} retries; try again later"
        ) from None
    except APIError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, requests.ConnectionError | requests.Timeout):
            raise CatalogUnreachableError(
                f"cannot reach the STAC API at {where} ({type(cause).__name__}); check "
                "the URL and the network, or pass a local catalog path"
            ) from None
        status = getattr(exc, "status_code", None)
        if status in RETRY_STATUSES:
            raise CatalogUnreachableError(
                f"the STAC API at {where} kept failing (HTTP {status}) after {retries} "
                "retries; try again later"
            ) from None
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        message = f"HTTP {status}" if status else "no detail"
        if detail and not detail.startswith("<"):  # JSON/text detail, not an HTML error page
            message += f": {detail}"
        if status in (401, 403):
            message += (
                " (the API wants credentials: pass a token through the environment, "
                "e.g. catalog_token_env in the job config)"
            )
        raise SearchError(f"the STAC API at {where} refused the search: {message}") from None


def search_scenes(
    catalog: str | Path | None,
    query: SceneQuery,
    *,
    modifier: Modifier | None = None,
    timeout_s: float = 30.0,
    retries: int = 5,
    max_items: int | None = None,
    headers: Mapping[str, str] | None = None,
    page_size: int = PAGE_SIZE,
) -> list[pystac.Item]:
    """Scenes matching ``query``, oldest first.

    Args:
        catalog: STAC API URL, local catalog path, or None for the embedded sample.
        query: the search.
        modifier: called on every returned STAC object, e.g.
            ``planetary_computer.sign_inplace`` to sign asset URLs.
        timeout_s: HTTP timeout per request, seconds.
        retries: retries of transient HTTP errors (with exponential back-off).
        max_items: stop after this many items from the API.
        headers: extra HTTP headers for the API (e.g. ``Authorization``); never logged.

    Raises:
        CatalogUnreachableError, SearchError, EmptySearchError, UnsafeAssetError
        (a remote catalog referencing local files or plain-http hosts).
    """
    if catalog is None:
        from .sample import default_sample_catalog

        catalog = default_sample_catalog()
    source = str(catalog)
    if source.startswith(("http://", "https://")):
        found = _api_items(
            source, query, modifier, timeout_s, retries, max_items, headers, page_size
        )
    else:
        found = [i for i in read_local_items(Path(source)) if _matches_space_time(i, query)]
        if modifier is not None:
            for item in found:
                modifier(item)
    scenes = sorted((i for i in found if matches_properties(i, query)), key=item_time)
    check_asset_hrefs(scenes, source)
    if not scenes:
        if found:
            raise EmptySearchError(
                f"{len(found)} scene(s) match the area and time in {redacted(source)}, but "
                f"none passes the filters: {why_none_matched(found, query)}"
            )
        hint = (
            " (areas are west, south, east, north in degrees: longitude first; check the "
            "order and the time range)"
            if query.bbox is not None or query.intersects is not None
            else ""
        )
        raise EmptySearchError(f"no scene in {redacted(source)} matches {query.describe()}{hint}")
    log.info("found %d scene(s) in %s", len(scenes), redacted(source))
    return scenes
