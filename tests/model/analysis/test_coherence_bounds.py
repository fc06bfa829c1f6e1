"""Field-level oracle bounds: the per-field table, its speckle physics and the fitted estimators."""

from __future__ import annotations

import numpy as np
import pytest

from cohcube.model import LandCover, SimulatedPair, homogeneous_scene, simulate_pair
from cohcube.model.analysis.coherence_bounds import (
    INFORMATION_SETS,
    exact_temporal,
    field_table,
    fit_conditional_mean,
    oracle_rmse,
    simulate_field_tables,
)
from cohcube.model.learning.config import DataConfig
from cohcube.model.learning.training_data import simulate_patches

POLS = ("VV", "VH")


def test_table_rebuilds_the_true_coherence_field_by_field() -> None:
    pair = simulate_pair((96, 96), 12.0, seed=5, polarizations=POLS, change_probability=0.5)
    table = field_table(pair)
    n_fields = len(table.temporal)
    assert n_fields == len(np.unique(pair.scene.field_id))
    for name in ("sigma0_db", "speckle", "labels", "weight"):
        assert len(getattr(table, name)) == n_fields
    np.testing.assert_allclose(
        table.temporal[table.field_index] * table.thermal, pair.coherence_true[0], atol=1e-6
    )
    assert oracle_rmse([table], exact_temporal) < 1e-6
    assert table.weight.sum() == pytest.approx(float(np.sum(table.thermal.astype(float) ** 2)))
    # one class per date, and the change flag agrees with the pair's map
    np.testing.assert_array_equal(table.labels[:, :5].sum(axis=1), 1)
    np.testing.assert_array_equal(table.labels[:, 5:10].sum(axis=1), 1)
    changed = table.labels[:, 10].astype(bool)[table.field_index]
    np.testing.assert_array_equal(changed, pair.changed)
    assert changed.any()
    assert (table.temporal[table.labels[:, 10] == 1] == 0).all()


def test_table_refuses_a_single_polarisation_pair() -> None:
    with pytest.raises(ValueError, match="VV"):
        field_table(simulate_pair((32, 32), 12.0, seed=1, polarizations=("VV",)))


def bright_field_pair(
    gamma: float, tau_days: float, max_shift_px: float, seed: int
) -> SimulatedPair:
    """A 12-day pair of one bright field (thermal term ~1) with long-term coherence ``gamma``."""
    scene = homogeneous_scene(
        (128, 128), sigma0_db=(0.0, -6.0), gamma_inf=gamma, tau_days=tau_days,
        land_cover=LandCover.URBAN,
    )  # fmt: skip
    return simulate_pair(
        baseline_days=12.0, seed=seed, polarizations=POLS, scene=scene,
        max_misregistration_px=max_shift_px, change_probability=0.0,
    )  # fmt: skip


@pytest.mark.parametrize("gamma", [0.0, 0.6, 1.0])
def test_field_intensity_correlation_follows_siegert(gamma: float) -> None:
    # Registered detected images correlate as |gamma|^2 (Siegert), looks or not.
    table = field_table(bright_field_pair(gamma, tau_days=1e-3, max_shift_px=0.0, seed=3))
    assert table.temporal[0] == pytest.approx(gamma)
    rho_vv = table.speckle[0, 0]
    assert rho_vv == pytest.approx(gamma**2 * table.thermal.mean() ** 2, abs=0.05)


def test_misregistration_hides_the_speckle_correlation() -> None:
    registered = field_table(bright_field_pair(1.0, tau_days=1e3, max_shift_px=0.0, seed=4))
    shifted = field_table(bright_field_pair(1.0, tau_days=1e3, max_shift_px=3.0, seed=4))
    assert registered.speckle[0, 5] == 0
    assert registered.speckle[0, 0] > 0.9
    assert shifted.speckle[0, 5] > 1.0  # this seed shifts the secondary by 2.8 px
    assert shifted.speckle[0, 0] < 0.2


def test_tables_are_the_scenes_evaluate_scores() -> None:
    data = DataConfig(scene_px=64, patch_px=64, workers=1)
    tables = simulate_field_tables(data, "test", 2, seed=11, baseline_days=24.0)
    patches = simulate_patches(data, "test", 2, 11, baseline_days=24.0)
    for table, truth in zip(tables, patches.truth, strict=True):
        np.testing.assert_array_equal(table.truth, truth)


def test_knowing_class_and_change_beats_knowing_nothing() -> None:
    data = DataConfig(scene_px=128, patch_px=128, workers=1, change_probability=0.3)
    train = simulate_field_tables(data, "train", 12, seed=2, baseline_days=12.0)
    test = simulate_field_tables(data, "test", 4, seed=2, baseline_days=12.0)
    scores = {
        name: oracle_rmse(test, fit_conditional_mean(train, name, epochs=40, hidden=32))
        for name in ("none", "labels")
    }
    assert scores["labels"] < 0.8 * scores["none"]
    assert oracle_rmse(test, exact_temporal) < 0.01 * scores["none"]


def test_unknown_information_set_is_refused() -> None:
    assert "labels+speckle" in INFORMATION_SETS
    with pytest.raises(ValueError, match="unknown information set"):
        fit_conditional_mean([], "everything")
