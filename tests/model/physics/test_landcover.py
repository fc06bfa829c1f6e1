"""Synthetic scenes: classes, per-field variation, texture and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from cohcube.model import LandCover, backscatter_map, generate_scene, linear_to_db


@pytest.fixture(scope="module")
def scene():  # type: ignore[no-untyped-def]
    return generate_scene((600, 600), np.random.default_rng(12))


def test_scene_holds_every_class(scene) -> None:  # type: ignore[no-untyped-def]
    land_cover = scene.land_cover_map()
    assert land_cover.shape == (600, 600)
    present = set(np.unique(land_cover).tolist())
    assert present == {c.value for c in LandCover}


def test_fields_draw_their_own_parameters(scene) -> None:  # type: ignore[no-untyped-def]
    fields = scene.fields
    present = np.unique(scene.field_id)
    crops = present[fields.land_cover[present] == LandCover.CROPS]
    assert crops.size > 20
    # Not a lookup table: crop fields differ in every parameter.
    for values in (fields.sigma0_db[crops, 0], fields.gamma_inf[crops], fields.tau_days[crops]):
        assert np.std(values) > 0.01 * np.abs(np.mean(values))
    assert np.all((fields.gamma_inf >= 0) & (fields.gamma_inf <= 1))
    assert np.all(fields.tau_days > 0)
    # Urban is bright and stable, water dark and incoherent, on average.
    urban = present[fields.land_cover[present] == LandCover.URBAN]
    water = present[fields.land_cover[present] == LandCover.WATER]
    assert fields.sigma0_db[urban, 0].mean() > fields.sigma0_db[water, 0].mean() + 10
    assert fields.gamma_inf[urban].mean() > 0.5 > fields.gamma_inf[water].mean()


def test_texture_varies_inside_fields(scene) -> None:  # type: ignore[no-untyped-def]
    sigma0_db = linear_to_db(backscatter_map(scene, scene.fields, "VV"))
    biggest = np.bincount(scene.field_id.ravel()).argmax()
    inside = sigma0_db[scene.field_id == biggest]
    assert inside.std() > 0.3
    assert np.median(inside) == pytest.approx(scene.fields.sigma0_db[biggest, 0], abs=0.5)


def test_scene_is_a_function_of_the_seed() -> None:
    a = generate_scene((64, 80), np.random.default_rng(3))
    b = generate_scene((64, 80), np.random.default_rng(3))
    c = generate_scene((64, 80), np.random.default_rng(4))
    np.testing.assert_array_equal(a.field_id, b.field_id)
    np.testing.assert_array_equal(a.texture, b.texture)
    assert not np.array_equal(a.field_id, c.field_id)
