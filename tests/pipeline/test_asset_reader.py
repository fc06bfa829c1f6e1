"""Which asset read failures are retried: judged on GDAL's message, never on the URL in it."""

from __future__ import annotations

import pytest
from rasterio.errors import RasterioIOError

from cohcube.pipeline.asset_reader import is_transient

URL = "/vsicurl/http://127.0.0.1:40401/s1/S1C_IW_GRDH_1SDV_20260401T165118_001923_003495/vv.tif"


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        (f"'{URL}' not recognized as being in a supported file format.", True),
        ("CURL error: Empty reply from server", True),
        ("Read failed. See previous exception for details.", True),
        (f"HTTP error code: 503 - {URL}", True),
        (f"HTTP response code: 404 - {URL}", False),
        (f"HTTP response code: 403 - {URL}", False),
        (f"{URL}: No such file or directory", False),
        ("nothing a retry could fix", False),
    ],
)
def test_retry_decision(message: str, transient: bool) -> None:
    assert is_transient(RasterioIOError(message)) is transient


def test_the_cause_chain_is_read() -> None:
    outer = RuntimeError("Error reading Window(col_off=0, row_off=0)")
    outer.__cause__ = RasterioIOError("CURL error: Connection reset by peer")
    assert is_transient(outer)
    assert not is_transient(RuntimeError("Error reading Window(col_off=0, row_off=0)"))
