"""The alternative scene generator: other statistics than the training simulator's, same physics."""

from __future__ import annotations

import numpy as np

from cohcube.model.physics.alt_scenes import (
    ALT_CLASS_PHYSICS,
    SHIFT_MAX_PX,
    SHIFT_SCALE_PX,
    alt_shift,
    generate_alt_scene,
    simulate_alt_pair,
    strip_parcels,
)
from cohcube.model.physics.landcover import LandCover, backscatter_map, generate_scene


def _elongation(labels: np.ndarray) -> float:
    """Median ratio of the principal axes of the fields (1 = round)."""
    ratios = []
    for label in np.unique(labels)[:200]:
        rows, cols = np.nonzero(labels == label)
        if rows.size < 50:
            continue
        eigen = np.linalg.eigvalsh(np.cov(np.stack([rows, cols]).astype(float)))
        ratios.append(np.sqrt(eigen[1] / max(eigen[0], 1e-9)))
    return float(np.median(ratios))


def test_strip_parcels_are_elongated_where_voronoi_fields_are_round() -> None:
    strips = strip_parcels((256, 256), np.random.default_rng(1))
    voronoi = generate_scene((256, 256), np.random.default_rng(1)).field_id
    assert _elongation(strips) > 2.0  # 2.4 on 2026-12-04
    assert _elongation(strips) > 1.3 * _elongation(voronoi)  # Voronoi cells: 1.67


def test_alt_scenes_draw_their_fields_from_their_own_class_table() -> None:
    scene = generate_alt_scene((256, 256), np.random.default_rng(2))
    assert scene.physics is ALT_CLASS_PHYSICS
    crops = scene.fields.land_cover == LandCover.CROPS
    mean_vv = float(np.mean(scene.fields.sigma0_db[crops, 0]))
    assert abs(mean_vv - ALT_CLASS_PHYSICS[LandCover.CROPS].sigma0_vv_db[0]) < 1.0
    # The texture spread is the alt table's (urban 5 dB instead of 4).
    urban = scene.land_cover_map() == LandCover.URBAN
    assert urban.sum() > 500
    db = 10 * np.log10(backscatter_map(scene, scene.fields, "VV"))
    per_field = db - scene.fields.sigma0_db[scene.field_id, 0]
    assert np.std(per_field[urban]) > 4.3


def test_alt_shifts_follow_their_rayleigh_law() -> None:
    rng = np.random.default_rng(3)
    lengths = np.array([np.hypot(*alt_shift(rng)) for _ in range(4000)])
    assert lengths.max() <= SHIFT_MAX_PX + 1e-9
    # Rayleigh mean sigma * sqrt(pi / 2), barely changed by the cap.
    assert abs(lengths.mean() - SHIFT_SCALE_PX * np.sqrt(np.pi / 2)) < 0.02
    assert (lengths > 1.0).mean() > 0.05  # beyond anything training saw


def test_an_alt_pair_is_a_simulated_pair_on_alt_ground() -> None:
    pair = simulate_alt_pair((128, 128), 12.0, seed=4)
    assert pair.reference.shape == (2, 128, 128)
    assert pair.scene.physics is ALT_CLASS_PHYSICS
    assert np.hypot(*pair.misregistration_px) <= SHIFT_MAX_PX
    assert np.isfinite(pair.coherence_true).all()
    again = simulate_alt_pair((128, 128), 12.0, seed=4)
    assert np.array_equal(pair.reference, again.reference)
