"""Reading COG assets with retries on transient failures GDAL does not retry itself.

GDAL retries HTTP 429/5xx answers (``GDAL_HTTP_MAX_RETRY``, set in
``cube.GDAL_HTTP_SETTINGS``), but not connection-level failures: a reset
connection, an empty reply, a timeout, a response cut short. This reader
retries those with exponential back-off (tenacity), reopening the dataset
each time; permanent failures (404/403, a file that is not a raster) are
raised at once, with the asset URL in the message (stackstac's wording); a
corrupt file fails after the retries, also naming its URL.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window
from stackstac.rio_reader import AutoParallelRioReader
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from .asset_policy import redacted, redacted_message
from .scene_items import gdal_env_for

log = logging.getLogger(__name__)

ATTEMPTS = 8
#: Permanent failures: access refused or no such file. Matched on the message with
#: every URL and path removed, so digits in a scene id or port never match.
PERMANENT = re.compile(r"\b(401|403|404)\b|does not exist|no such file")
TRANSIENT_MARKERS = (
    "curl error",
    "empty reply",
    "timed out",
    "timeout",
    "connection reset",
    "connection refused",
    "transfer closed",
    "ireadblock failed",
    "read error",
    "read failed",
    # A header cut short reads like a file of unknown format: retried (a truly
    # corrupt file fails after ATTEMPTS tries, with its URL in the message).
    "not recognized as being in a supported file format",
    "http error code: 5",
    "http response code: 5",
    "429",
)


def is_transient(error: BaseException) -> bool:
    """Whether a read failure may succeed on retry (judged by GDAL's message)."""
    chain: list[str] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 8:
        chain.append(repr(current).lower())
        current = current.__cause__ or current.__context__
    text = re.sub(r"(\w+://|/vsi\w+/)\S+", "<url>", " ".join(chain))
    if PERMANENT.search(text):
        return False
    return any(marker in text for marker in TRANSIENT_MARKERS)


def read_retrying() -> Retrying:
    """The retry policy of asset reads: transient failures, exponential back-off."""
    return Retrying(
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential(multiplier=0.25, max=4),
        retry=retry_if_exception(is_transient),
        reraise=True,
    )


class RetryingRioReader(AutoParallelRioReader):  # type: ignore[misc]  # stackstac is untyped
    """stackstac's reader, with retries of transient connection failures."""

    _dataset: Any

    def _reset(self) -> None:
        with self._dataset_lock:
            if self._dataset is not None:
                self._dataset.close()
                self._dataset = None

    def read(self, window: Window, **kwargs: Any) -> np.ndarray:
        for attempt in read_retrying():
            with attempt:
                try:
                    result: np.ndarray = super().read(window, **kwargs)
                    return result
                except Exception as error:
                    if is_transient(error):
                        log.warning(
                            "retrying %s: %s", redacted(self.url), redacted_message(str(error))
                        )
                        self._reset()
                    raise
        raise AssertionError("unreachable: tenacity re-raises the last error")


#: Largest asset read whole (decimated) when it has no overviews to read instead, pixels.
MAX_WHOLE_READ_PX = 16_000_000
#: Side of the decimated view an empty-scene check looks at, pixels.
PREVIEW_PX = 512


def _empty_reason(dataset: Any) -> str | None:
    """Why an open asset holds no valid pixel, or None (also None when it cannot tell cheaply).

    Reads a decimated view (overviews when the COG has them), so a scene whose
    every pixel is nodata or NaN is caught for a few kB to a few MB.
    """
    if not dataset.overviews(1) and dataset.width * dataset.height > MAX_WHOLE_READ_PX:
        log.debug("%s: no overviews, too large to check for content", dataset.name)
        return None
    shape = (min(dataset.height, PREVIEW_PX), min(dataset.width, PREVIEW_PX))
    view = dataset.read(1, out_shape=shape, masked=True)
    data = np.ma.filled(view.astype(np.float64), np.nan)
    if np.isfinite(data).any():
        return None
    return "holds no valid pixel (every pixel is nodata or NaN)"


def _raster_href(item: Any, band: str) -> str:
    """The raster of ``band``: the asset of that key, or a GRD item's measurement (any naming)."""
    if band in item.assets:
        return str(item.assets[band].href)
    from .grd.assets import grd_assets

    return grd_assets(item, band).measurement


def unusable_scenes(
    scenes: list[Any], bands: tuple[str, ...], gdal_settings: dict[str, str], workers: int = 8
) -> dict[str, str]:
    """Scenes with a band asset that cannot be read or holds no data: ``{scene id: reason}``.

    Opens each asset (with the same transient-failure retries as the reader)
    in a thread pool and looks at a decimated view of its first band; the
    reason names the band and the asset URL, with no query string anywhere in it.
    """

    def check(item: Any) -> tuple[str, str | None]:
        settings = gdal_env_for(item, gdal_settings)
        for band in bands:
            try:
                href = _raster_href(item, band)
            except Exception as error:  # no such asset: the reason names what there is
                return item.id, f"{band}: {redacted_message(str(error))}"
            try:
                for attempt in read_retrying():
                    with attempt, rasterio.Env(**settings), rasterio.open(href) as dataset:
                        empty = _empty_reason(dataset)
            except Exception as error:  # any failure makes the scene unusable
                return item.id, f"{band}: {redacted(href)}: {redacted_message(str(error))}"
            if empty is not None:
                return item.id, f"{band}: {redacted(href)}: {empty}"
        return item.id, None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(check, scenes))
    return {scene: reason for scene, reason in results if reason is not None}
