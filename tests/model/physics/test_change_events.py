"""Change events: new epochs, new classes, floods that recede."""

from __future__ import annotations

import numpy as np
import pytest

from cohcube.model import (
    ChangeEvent,
    ChangeKind,
    LandCover,
    field_states,
    generate_scene,
    plan_change_events,
    true_coherence,
)


@pytest.fixture(scope="module")
def scene():  # type: ignore[no-untyped-def]
    return generate_scene((256, 256), np.random.default_rng(5))


def _field_of(scene, land_cover: LandCover) -> int:  # type: ignore[no-untyped-def]
    present = np.unique(scene.field_id)
    return int(present[scene.fields.land_cover[present] == land_cover][0])


def test_harvest_breaks_coherence_and_bares_the_soil(scene) -> None:  # type: ignore[no-untyped-def]
    field = _field_of(scene, LandCover.CROPS)
    events = [ChangeEvent(field, 5.0, ChangeKind.HARVEST)]
    before, after, later = field_states(scene, (0.0, 12.0, 24.0), events, np.random.default_rng(1))
    assert after.fields.land_cover[field] == LandCover.BARE_SOIL
    assert after.epoch[field] == before.epoch[field] + 1
    assert later.epoch[field] == after.epoch[field]
    pixels = scene.field_id == field
    across = true_coherence(scene, before, after, "VV", -22.0)
    assert np.all(across[pixels] == 0)
    unchanged = ~np.isin(scene.field_id, [field])
    assert np.all(across[unchanged] > 0)
    assert np.all(true_coherence(scene, after, later, "VV", -22.0)[pixels] > 0)


def test_flood_recedes_into_a_new_epoch(scene) -> None:  # type: ignore[no-untyped-def]
    field = _field_of(scene, LandCover.FOREST)
    events = [ChangeEvent(field, 3.0, ChangeKind.FLOOD, duration_days=10.0)]
    states = field_states(scene, (0.0, 6.0, 18.0), events, np.random.default_rng(2))
    assert [s.fields.land_cover[field] for s in states] == [
        LandCover.FOREST,
        LandCover.WATER,
        LandCover.FOREST,
    ]
    assert [int(s.epoch[field]) for s in states] == [0, 1, 2]
    assert states[1].fields.sigma0_db[field, 0] < states[0].fields.sigma0_db[field, 0]


def test_planned_events_respect_eligibility_and_window(scene) -> None:  # type: ignore[no-untyped-def]
    events = plan_change_events(scene, 10.0, 40.0, 0.5, np.random.default_rng(3))
    assert events
    for event in events:
        assert 10.0 < event.day < 40.0
        start_class = LandCover(int(scene.fields.land_cover[event.field]))
        assert start_class not in (LandCover.WATER, LandCover.URBAN)
        assert (event.kind is ChangeKind.CONSTRUCTION) <= (start_class is LandCover.BARE_SOIL)
    assert plan_change_events(scene, 0.0, 12.0, 0.0, np.random.default_rng(3)) == []


def test_days_must_ascend(scene) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="ascending"):
        field_states(scene, (12.0, 0.0), [], np.random.default_rng(0))
