"""Simulated pairs: what a training sample holds and how it behaves with the baseline."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cohcube.model import LandCover, generate_scene, intensity_coherence, simulate_pair


def test_pair_contents_and_types() -> None:
    pair = simulate_pair((96, 128), 12.0, seed=1, polarizations=("VV", "VH"))
    for image in (pair.reference, pair.secondary, pair.coherence_target, pair.coherence_true):
        assert image.shape == (2, 96, 128)
        assert image.dtype == np.float32
        assert np.isfinite(image).all()
    assert (pair.reference > 0).all()
    for coherence in (pair.coherence_target, pair.coherence_true):
        assert coherence.min() >= 0
        assert coherence.max() <= 1
    assert pair.land_cover.shape == (96, 128)
    assert pair.changed.dtype == bool
    assert np.hypot(*pair.misregistration_px) <= 1.0
    assert pair.polarizations == ("VV", "VH")


def test_pair_is_a_function_of_the_seed() -> None:
    a = simulate_pair((64, 64), 12.0, seed=8)
    b = simulate_pair((64, 64), 12.0, seed=8)
    c = simulate_pair((64, 64), 12.0, seed=9)
    np.testing.assert_array_equal(a.reference, b.reference)
    np.testing.assert_array_equal(a.coherence_target, b.coherence_target)
    assert not np.array_equal(a.reference, c.reference)


def test_longer_baselines_decorrelate_more() -> None:
    scene = generate_scene((192, 192), np.random.default_rng(30))
    means = [
        float(
            simulate_pair(
                scene=scene, baseline_days=dt, seed=31, change_probability=0.0
            ).coherence_true.mean()
        )
        for dt in (6.0, 12.0, 24.0, 36.0)
    ]
    assert all(a > b for a, b in itertools.pairwise(means))


def test_truth_target_and_baseline_are_consistent() -> None:
    pair = simulate_pair(
        (256, 256), 12.0, seed=4, max_misregistration_px=0.0, change_probability=0.2
    )
    truth, target = pair.coherence_true[0], pair.coherence_target[0]
    assert pair.changed.any()
    assert np.all(truth[pair.changed] == 0)
    # The SLC estimate tracks the truth and is biased high where coherence is low.
    assert np.corrcoef(truth.ravel(), target.ravel())[0, 1] > 0.8
    low = truth < 0.1
    assert target[low].mean() > truth[low].mean() + 0.05
    urban = pair.land_cover == LandCover.URBAN
    forest = pair.land_cover == LandCover.FOREST
    assert truth[urban].mean() > truth[forest].mean() + 0.4
    # The intensity baseline sees the same contrast, noisily.
    baseline = intensity_coherence(pair.reference[0], pair.secondary[0], 7)
    assert np.nanmean(baseline[urban]) > np.nanmean(baseline[forest])


def test_invalid_baseline_is_refused() -> None:
    with pytest.raises(ValueError, match="baseline_days"):
        simulate_pair((32, 32), 0.0, seed=1)
