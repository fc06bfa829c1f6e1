"""Change analytics: robust per-pixel loss-of-coherence events, on synthetic and simulated truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from cohcube.model.errors import InputDataError
from cohcube.pipeline.changes import detect_changes, pair_series
from cohcube.pipeline.sample import SampleCatalog, read_change_truth, score_changes, truth_cube
from cohcube.pipeline.store.schema import pair_coords

START = pd.Timestamp("2026-03-02T16:51:30")


def _cube(values: np.ndarray, step_days: float = 12.0) -> xr.Dataset:
    n = values.shape[0]
    reference = [START + pd.Timedelta(days=step_days * k) for k in range(n)]
    secondary = [t + pd.Timedelta(days=12) for t in reference]
    table = pd.DataFrame(
        {
            "pair_id": [f"p{k}" for k in range(n)],
            "reference_time": reference,
            "secondary_time": secondary,
            "temporal_baseline_days": 12.0,
            "relative_orbit": 73,
            "orbit_state": "ascending",
            "reference_platform": "sentinel-1a",
            "secondary_platform": "sentinel-1a",
        }
    )
    ny, nx = values.shape[1:]
    coords = pair_coords(table) | {"y": np.arange(ny) * -10.0, "x": np.arange(nx) * 10.0}
    return xr.Dataset({"coherence": (("pair", "y", "x"), values)}, coords=coords)


def _stable_series(n: int = 8, size: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.6 + 0.03 * rng.standard_normal((n, size, size))).astype(np.float32)


def test_a_drop_is_flagged_at_its_pair_and_nowhere_else() -> None:
    values = _stable_series()
    values[5:, 10:20, 10:20] = 0.05  # a field changes during pair 5 and stays incoherent
    changes = detect_changes(_cube(values).chunk({"y": 16, "x": 16})).compute()
    inside = changes.isel(y=slice(12, 18), x=slice(12, 18))
    assert bool(inside.change.all())
    assert set(np.unique(inside.change_pair.values)) == {5}
    expected_end = np.datetime64(START + pd.Timedelta(days=12 * 5 + 12), "ns")
    assert (inside.change_end.values == expected_end).all()
    assert float(inside.change_magnitude.mean()) == pytest.approx(0.55, abs=0.05)
    outside = changes.change.values.copy()
    outside[8:22, 8:22] = False  # the 5 px average blurs the field edge by 2 px
    assert not outside.any()


def test_past_history_needs_earlier_pairs() -> None:
    values = _stable_series()
    values[1, :5, :5] = 0.0  # too early to judge against the past
    values[6, -5:, -5:] = 0.0
    changes = detect_changes(_cube(values), history="past", smooth_px=1).compute()
    assert not changes.change.values[:5, :5].any()
    assert changes.change.values[-5:, -5:].all()
    assert (changes.change_pair.values[-5:, -5:] == 6).all()


def test_nan_pixels_stay_unflagged_and_short_series_are_refused() -> None:
    values = _stable_series()
    values[:, :4, :4] = np.nan
    changes = detect_changes(_cube(values)).compute()
    assert not changes.change.values[:4, :4].any()
    with pytest.raises(InputDataError, match="history"):
        detect_changes(_cube(values[:3]))


def test_series_split_by_baseline_and_orbit() -> None:
    cube = _cube(_stable_series(n=4, size=4))
    cube = cube.assign_coords(temporal_baseline=("pair", [12.0, 12.0, 24.0, 12.0]))
    series = pair_series(cube)
    assert sorted(map(list, series)) == [[0, 1, 3], [2]]


def test_true_coherence_of_the_sample_reveals_its_events(small_sample: SampleCatalog) -> None:
    """The detector on the simulator's true coherence: the physics bound of the method."""
    truth_coherence = truth_cube(small_sample)
    changes = detect_changes(truth_coherence, smooth_px=1, min_drop=0.1).compute()
    score = score_changes(
        changes, read_change_truth(small_sample), true_coherence=truth_coherence.coherence
    )
    assert score["events"] > 10
    assert score["false_alarm_rate"] <= 0.01
    # Events in fields that had coherence to lose are found; others cannot be.
    assert score["observable_detection_rate"] >= 0.7
    assert score["observable_events"] < score["events"]
