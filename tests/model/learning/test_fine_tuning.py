"""Starting training from an artefact: its exact weights, and widened inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cohcube.model.learning.artefact import quiet_torchscript
from cohcube.model.learning.card import card_path_for, read_card
from cohcube.model.learning.config import TrainingConfig
from cohcube.model.learning.fine_tuning import initial_weights
from cohcube.model.learning.network import build_network, load_weights

SHIPPED = card_path_for(None)


def _artefact_output(card: Path, x: torch.Tensor) -> torch.Tensor:
    with quiet_torchscript():
        module = torch.jit.load(str(card.with_suffix(".pt")), map_location="cpu")  # type: ignore[no-untyped-call]
    with torch.no_grad():
        out: torch.Tensor = module.network(x)
    return out


def test_training_starts_from_the_shipped_weights_as_exported() -> None:
    """The shipped export has biased decoder reduce convs; --init keeps them."""
    card = read_card(SHIPPED)
    assert card.training is not None
    config = card.training.config
    network = load_weights(build_network(config), initial_weights(SHIPPED, config)).eval()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((1, card.input.channels, 64, 64), dtype=np.float32))
    with torch.no_grad():
        ours = network(x)
    assert torch.allclose(ours, _artefact_output(SHIPPED, x), atol=1e-5)


def test_speckle_channels_widen_a_network_without_changing_its_output(
    tiny_artefact: Path, tiny_config: TrainingConfig
) -> None:
    config = tiny_config.model_copy(
        update={"network": tiny_config.network.model_copy(update={"speckle_window_px": 7})}
    )
    network = load_weights(build_network(config), initial_weights(tiny_artefact, config)).eval()
    card = tiny_artefact.with_suffix(".json")
    backscatter = read_card(card).input.channels
    assert network.in_channels == backscatter + 9 * len(config.network.polarizations)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.random((1, network.in_channels, 64, 64), dtype=np.float32))
    with torch.no_grad():
        ours = network(x)
    assert torch.allclose(ours, _artefact_output(card, x[:, :backscatter]), atol=1e-5)
