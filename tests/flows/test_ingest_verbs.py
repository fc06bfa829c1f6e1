"""sample-catalog, search and pairs through the command line."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from support.served import proxied_api, stac_api

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_sample_catalog_search_pairs(run_cohcube: Run, tmp_path: Path) -> None:
    made = run_cohcube("sample-catalog", str(tmp_path / "sample"), "--size", "128")
    assert "wrote 28 scenes (14 passes)" in made.stdout
    items = tmp_path / "sample" / "sentinel-1-rtc" / "items.json"
    found = run_cohcube("search", "--catalog", str(items), "--platform", "sentinel-1c")
    assert len(found.stdout.strip().splitlines()) == 14
    assert "14 scene(s)" in found.stderr
    pairs = run_cohcube("pairs", "--catalog", str(items), "--baseline", "6", "--baseline", "24")
    assert "23 pair(s)" in pairs.stderr
    again = run_cohcube("sample-catalog", str(tmp_path / "sample"), "--size", "128", check=False)
    assert again.returncode == 2
    assert "not empty" in again.stderr

    # Two passes 12 days apart, but on different tracks: asked to pair, cohcube explains why not.
    document = json.loads(items.read_text())
    days = sorted({f["properties"]["datetime"][:10] for f in document["features"]})
    document["features"] = [
        f for f in document["features"] if f["properties"]["datetime"][:10] in (days[0], days[2])
    ]
    for feature in document["features"]:
        if feature["properties"]["datetime"][:10] == days[2]:
            feature["properties"]["sat:relative_orbit"] = 22
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps(document))
    refused = run_cohcube("pairs", "--catalog", str(mixed), check=False)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    assert [line for line in refused.stderr.splitlines() if "error" in line] == [
        "cohcube: error: no pair with baselines [12.0] d among 2 acquisition(s) on 2 track(s) "
        "(relative orbit 22 ascending: 1 pass(es), relative orbit 73 ascending: 1 pass(es)); "
        "pairs never cross relative orbits or orbit directions (different viewing geometries): "
        "search one track (--relative-orbit, --orbit-state) over a longer time"
    ]


def test_search_errors_are_one_line(run_cohcube: Run) -> None:
    bad = run_cohcube("search", "--bbox", "10,50,9,51", check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("cohcube: error: bbox")
    assert "Traceback" not in bad.stderr
    unreachable = run_cohcube("search", "--catalog", "http://127.0.0.1:9/", check=False)
    assert unreachable.returncode == 2
    assert "cannot reach the STAC API" in unreachable.stderr


def test_a_token_from_the_environment_reaches_the_api_and_no_log(
    run_cohcube: Run, tmp_path: Path
) -> None:
    token = "tok-93be1c7d5a"
    run_cohcube("sample-catalog", str(tmp_path / "sample"), "--size", "128")
    folder = tmp_path / "sample" / "sentinel-1-rtc"
    with (
        stac_api(folder / "collection.json", folder / "items.json") as api,
        proxied_api(api, token=token) as url,
    ):
        env = {"STAC_TOKEN": token}
        args = ("search", "--catalog", url, "-vv")
        found = run_cohcube(*args, "--token-env", "STAC_TOKEN", env=env)
        refused = run_cohcube(*args, check=False, env=env)
        unset = run_cohcube(*args, "--token-env", "NO_SUCH_TOKEN_VAR", check=False)
    assert "28 scene(s)" in found.stderr
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    (error,) = [line for line in refused.stderr.splitlines() if line.startswith("cohcube: error")]
    assert "HTTP 401" in error
    assert "credentials" in error
    assert unset.returncode == 2
    assert "--token-env: the environment variable NO_SUCH_TOKEN_VAR is not set" in unset.stderr
    for result in (found, refused, unset):
        assert token not in result.stdout + result.stderr
