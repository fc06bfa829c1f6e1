"""Pair selection: baselines, policies, and never across orbits."""

from __future__ import annotations

import pandas as pd
import pytest

from cohcube.pipeline.cube import build_cube
from cohcube.pipeline.errors import PairingError
from cohcube.pipeline.inference import predict_coherence
from cohcube.pipeline.pairs import acquisitions, check_same_track, explain_no_pairs, select_pairs
from cohcube.pipeline.sample import SampleCatalog
from cohcube.pipeline.search import SceneQuery, search_scenes


@pytest.fixture(scope="module")
def cube(small_sample: SampleCatalog):  # type: ignore[no-untyped-def]
    return build_cube(search_scenes(small_sample.items, SceneQuery()), chunk_px=256)


def test_sample_yields_the_expected_pairs(cube) -> None:  # type: ignore[no-untyped-def]
    pairs = select_pairs(cube, (6, 12, 24))
    counts = pairs.groupby("temporal_baseline_days").size().to_dict()
    # 14 acquisitions 6 days apart (two platforms, 12-day repeat each).
    assert counts == {6.0: 13, 12.0: 12, 24.0: 10}
    assert (pairs["secondary_time"] > pairs["reference_time"]).all()
    twelve = pairs[pairs.temporal_baseline_days == 12]
    # 12-day pairs join the same platform; 6-day pairs join the two platforms.
    assert (twelve.reference_platform == twelve.secondary_platform).all()
    six = pairs[pairs.temporal_baseline_days == 6]
    assert (six.reference_platform != six.secondary_platform).all()
    assert pairs.pair_id.is_unique
    only_12 = select_pairs(cube)
    assert len(only_12) == 12


def _table(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "time": pd.Timestamp(t),
                "relative_orbit": o,
                "orbit_state": s,
                "platform": "sentinel-1a",
            }
            for t, o, s in rows
        ]
    )


def test_pairs_never_cross_orbits_or_directions() -> None:
    table = _table(
        [
            ("2026-01-01T05:00", 22, "descending"),
            ("2026-01-01T17:00", 73, "ascending"),
            ("2026-01-13T05:00", 22, "descending"),
            ("2026-01-13T17:00", 73, "ascending"),
            ("2026-01-07T17:00", 73, "descending"),
        ]
    )
    pairs = select_pairs(table, (12,))
    assert len(pairs) == 2
    assert set(pairs.relative_orbit) == {22, 73}
    for _, pair in pairs.iterrows():
        ref, sec = table.loc[pair.reference_index], table.loc[pair.secondary_index]
        assert ref.relative_orbit == sec.relative_orbit
        assert ref.orbit_state == sec.orbit_state
    # Six days apart, but different orbits: no 6-day pair exists.
    assert select_pairs(table, (6,)).empty


def test_policies() -> None:
    table = _table([(f"2026-01-{d:02d}T17:00", 73, "ascending") for d in (1, 7, 13, 25, 31)])
    nearest = select_pairs(table, policy="nearest")
    assert list(nearest.temporal_baseline_days) == [6, 6, 12, 6]
    capped = select_pairs(table, policy="nearest", max_baseline_days=6)
    assert list(capped.temporal_baseline_days) == [6, 6, 6]
    every = select_pairs(table, policy="all", max_baseline_days=12)
    assert sorted(every.temporal_baseline_days) == [6, 6, 6, 12, 12]
    tolerant = select_pairs(table, (11,), tolerance_days=1.0)
    assert len(tolerant) == 2
    with pytest.raises(PairingError, match="max_baseline_days"):
        select_pairs(table, policy="all")
    with pytest.raises(PairingError, match="unknown pair policy"):
        select_pairs(table, policy="random")  # type: ignore[arg-type]


def test_pairs_from_scenes_match_pairs_from_the_cube(cube, small_sample: SampleCatalog) -> None:  # type: ignore[no-untyped-def]
    from cohcube.pipeline.pairs import acquisitions_of

    scenes = search_scenes(small_sample.items, SceneQuery())
    from_scenes = select_pairs(acquisitions_of(scenes), (6, 12, 24))
    from_cube = select_pairs(cube, (6, 12, 24))
    assert list(from_scenes.pair_id) == list(from_cube.pair_id)


def test_no_pair_is_explained_by_track() -> None:
    table = _table(
        [
            ("2026-01-01T17:00", 73, "ascending"),
            ("2026-01-07T05:00", 22, "descending"),
            ("2026-01-13T17:00", 44, "ascending"),
        ]
    )
    assert select_pairs(table, (12,)).empty
    message = str(explain_no_pairs(table, (12,)))
    assert "3 acquisition(s) on 3 track(s)" in message
    assert "relative orbit 22 descending: 1 pass(es)" in message
    assert "never cross relative orbits" in message


def test_a_cross_track_pair_is_refused(cube) -> None:  # type: ignore[no-untyped-def]
    orbits = cube["relative_orbit"].values.copy()
    orbits[1] = 22
    mixed = cube.assign_coords(relative_orbit=("time", orbits))
    pairs = select_pairs(cube).iloc[:1].copy()
    pairs["reference_index"], pairs["secondary_index"] = 0, 1
    with pytest.raises(PairingError, match=r"relative orbit 22 ascending"):
        check_same_track(acquisitions(mixed), pairs)
    with pytest.raises(PairingError, match="same track"):
        predict_coherence(mixed, pairs)
