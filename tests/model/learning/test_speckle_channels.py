"""Speckle-correlation channels: what each lag measures, and how augmentation moves them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import uniform_filter

from cohcube.model.learning.preprocessing import InputContract, network_input
from cohcube.model.learning.speckle_channels import (
    LAGS,
    box_mean,
    lag_channel_names,
    lagged_correlation,
)
from cohcube.model.learning.training import augmented


def _speckle(shape: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).exponential(1.0, shape).astype(np.float32)


def test_the_lag_that_undoes_a_shift_carries_the_correlation() -> None:
    reference = _speckle((96, 96), 0)
    secondary = np.roll(reference, (1, -1), axis=(0, 1))  # secondary(y + 1, x - 1) = reference
    correlation = lagged_correlation(reference, secondary, 7)[:, 8:-8, 8:-8].mean(axis=(1, 2))
    best = LAGS[int(np.argmax(correlation))]
    assert best == (1, -1)
    assert correlation.max() > 0.99
    assert np.abs(np.delete(correlation, LAGS.index((1, -1)))).max() < 0.05


def test_independent_speckle_correlates_near_zero_and_no_data_adds_nothing() -> None:
    reference, secondary = _speckle((96, 96), 1), _speckle((96, 96), 2)
    secondary[:20] = np.nan
    correlation = lagged_correlation(reference, secondary, 9)
    assert np.isfinite(correlation).all()
    assert abs(float(correlation[:, 30:].mean())) < 0.03
    assert np.abs(correlation[:, :15]).max() == 0.0


def test_network_input_appends_the_lag_channels_in_the_contract_order() -> None:
    contract = InputContract(polarizations=("VV", "VH"), speckle_window_px=7)
    assert contract.channel_order[4:] == lag_channel_names(("VV", "VH"))
    assert contract.channels == 4 + 18
    reference = _speckle((2, 48, 48), 3)
    channels, valid = network_input(reference, reference, contract)
    assert channels.shape == (22, 48, 48)
    assert valid.all()
    assert np.allclose(channels[4 + LAGS.index((0, 0))][4:-4, 4:-4], 1.0, atol=1e-5)
    assert InputContract.model_validate(contract.model_dump()) == contract


@pytest.mark.parametrize(
    ("flip_x", "flip_y", "swap"), [(True, False, False), (False, True, False), (True, True, False)]
)
def test_flips_move_the_lag_channels_as_recomputing_them_would(
    flip_x: bool, flip_y: bool, swap: bool
) -> None:
    """A flipped pair's lag channels, recomputed, equal the augmentation's flipped channels."""
    contract = InputContract(polarizations=("VV",), speckle_window_px=5)
    reference, secondary = _speckle((1, 40, 40), 4), _speckle((1, 40, 40), 5)
    secondary = 0.5 * secondary + 0.5 * np.roll(reference, 1, axis=2)
    channels, _ = network_input(reference, secondary, contract)

    def flipped(image: np.ndarray) -> np.ndarray:
        image = image[..., ::-1] if flip_x else image
        return np.ascontiguousarray(image[..., ::-1, :] if flip_y else image)

    expected, _ = network_input(flipped(reference), flipped(secondary), contract)
    x = torch.from_numpy(channels[None])
    y = torch.zeros((1, 1, 40, 40))
    masks = (torch.tensor([flip_x]), torch.tensor([flip_y]), torch.tensor([swap]))
    moved, _ = augmented(x, y, *masks, backscatter_channels=2)
    assert torch.allclose(moved[0], torch.from_numpy(expected), atol=1e-5)


def test_a_date_swap_negates_the_lags_and_swaps_the_dates() -> None:
    contract = InputContract(polarizations=("VV",), speckle_window_px=5)
    reference = _speckle((1, 40, 40), 6)
    secondary = np.roll(reference, 1, axis=2)  # secondary(x + 1) = reference(x): lag +1
    channels, _ = network_input(reference, secondary, contract)
    x = torch.from_numpy(channels[None])
    no, yes = torch.tensor([False]), torch.tensor([True])
    moved, _ = augmented(x, torch.zeros((1, 1, 40, 40)), no, no, yes, backscatter_channels=2)
    swapped, _ = network_input(secondary, reference, contract)
    assert torch.equal(moved[0, :2], torch.from_numpy(swapped[:2]))
    inner = (slice(None), slice(4, -4), slice(4, -4))
    assert LAGS[int(channels[2:][inner].mean(axis=(1, 2)).argmax())] == (0, 1)
    peak = moved[0, 2:][inner].mean(dim=(1, 2)).argmax()
    assert LAGS[int(peak)] == (0, -1) == LAGS[int(swapped[2:][inner].mean(axis=(1, 2)).argmax())]


def test_each_lag_is_the_pearson_coefficient_of_its_box() -> None:
    """Against a direct computation: the mean-relative deviations' correlation in one box."""
    reference = _speckle((40, 40), 7)
    secondary = 0.6 * reference + 0.4 * _speckle((40, 40), 8)
    window, (y, x) = 5, (17, 23)
    correlation = lagged_correlation(reference, secondary, window)
    half = window // 2

    def standardised(image: np.ndarray) -> np.ndarray:
        return image / uniform_filter(image.astype(np.float64), window, mode="reflect") - 1.0

    def box(image: np.ndarray, cy: int, cx: int) -> np.ndarray:
        return image[cy - half : cy + half + 1, cx - half : cx + half + 1]

    ref, sec = standardised(reference), standardised(secondary)
    for i, (dy, dx) in enumerate(LAGS):
        a, b = box(ref, y, x), box(sec, y + dy, x + dx)
        expected = (a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean())
        assert correlation[i, y, x] == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("window", [3, 7, 9])
@pytest.mark.parametrize("shape", [(64, 80), (5, 9), (2, 3)])
def test_box_mean_is_scipys_mirrored_uniform_filter(window: int, shape: tuple[int, int]) -> None:
    # (2, 3) and (5, 9) are smaller than the box: the mirror folds more than once.
    image = _speckle(shape, seed=window)
    expected = uniform_filter(image, window, mode="reflect")
    np.testing.assert_allclose(box_mean(image, window), expected, rtol=0, atol=2e-6)
    into = np.full(shape, np.nan, dtype=np.float32)
    assert box_mean(image, window, out=into) is into
    np.testing.assert_allclose(into, expected, rtol=0, atol=2e-6)
