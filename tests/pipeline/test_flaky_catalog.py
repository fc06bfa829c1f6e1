"""Searching through a flaky or guarded STAC API (a fault-injecting proxy in front of rustac)."""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest
from support.served import ServedCatalog, proxied_api

from cohcube.pipeline.errors import CatalogUnreachableError, SearchError
from cohcube.pipeline.search import SceneQuery, search_scenes

TOKEN = "s3cr3t-t0ken-4f9a"
SECRET_URL_TOKEN = "sig=urlsecret99"


def _ids(items: list) -> list[str]:  # type: ignore[type-arg]
    return [i.id for i in items]


def test_transient_api_faults_are_retried(served_sample: ServedCatalog) -> None:
    direct = search_scenes(served_sample.api_url, SceneQuery())
    with proxied_api(served_sample.api_url, "503=4", "reset=5", "429=7") as url:
        # Pages of 10 items: the sample spans several, so paging goes through the faults.
        assert _ids(search_scenes(url, SceneQuery(), page_size=10)) == _ids(direct)
        with urllib.request.urlopen(f"{url}/__faults") as answer:
            injected = json.load(answer)
    assert set(injected) == {"503", "reset", "429"}, injected
    assert len(direct) > 10


def test_an_api_that_keeps_failing_is_named(served_sample: ServedCatalog) -> None:
    with (
        proxied_api(served_sample.api_url, "always=503") as url,
        pytest.raises(
            CatalogUnreachableError, match=r"kept failing \(HTTP 503\) after 2 retries"
        ) as info,
    ):
        search_scenes(f"{url}?{SECRET_URL_TOKEN}", SceneQuery(), retries=2)
    assert url in str(info.value)
    assert SECRET_URL_TOKEN not in str(info.value)


def test_a_bearer_token_is_sent_and_never_logged(
    served_sample: ServedCatalog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every library's debug output, urllib3's requests included
    with proxied_api(served_sample.api_url, token=TOKEN) as url:
        with pytest.raises(SearchError, match="401") as refused:
            search_scenes(url, SceneQuery())
        assert "credentials" in str(refused.value)
        found = search_scenes(url, SceneQuery(), headers={"Authorization": f"Bearer {TOKEN}"})
    assert _ids(found) == _ids(search_scenes(served_sample.api_url, SceneQuery()))
    assert any("127.0.0.1" in r.getMessage() for r in caplog.records)  # the log was captured
    assert TOKEN not in caplog.text
