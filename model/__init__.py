"""cohcube.model: learning coherence -- SAR physics, and the network that learns from it.

Rooms:

- ``physics``: radiometry, sensor, land cover, change events, speckle, GRD
  detection, decorrelation, the simulator and the classical estimators
  (NumPy/SciPy only; no torch anywhere under it);
- ``learning``: training config, network, preprocessing contract, training
  data, training, checkpoints, evaluation, export, the typed model card and
  the artefact (``load_model``);
- ``analysis``: research tools, e.g. the accuracy bounds of ``coherence_bounds``;
- ``errors``: the one error root ``CohcubeError`` and its kinds;
  ``config_files``: the one loader of YAML/TOML configs.

The physics names are re-exported here; ``load_model`` is imported lazily
(it pulls in torch).
"""

from typing import Any

from .physics.change_events import (
    ChangeEvent,
    ChangeKind,
    FieldState,
    field_states,
    plan_change_events,
)
from .physics.decorrelation import temporal_coherence, thermal_coherence
from .physics.estimators import (
    equivalent_number_of_looks,
    expected_sample_coherence,
    intensity_coherence,
    sample_coherence,
)
from .physics.landcover import (
    CLASS_PHYSICS,
    POLARIZATIONS,
    LandCover,
    Scene,
    backscatter_map,
    generate_scene,
    homogeneous_scene,
)
from .physics.radiometry import SENTINEL1_IW_NESZ_DB, db_to_linear, linear_to_db
from .physics.sensor import SensorGeometry, SlcGrid
from .physics.simulator import (
    SimulatedAcquisition,
    SimulatedPair,
    simulate_pair,
    simulate_series,
    true_coherence,
)

__all__ = [
    "CLASS_PHYSICS",
    "POLARIZATIONS",
    "SENTINEL1_IW_NESZ_DB",
    "ChangeEvent",
    "ChangeKind",
    "FieldState",
    "LandCover",
    "Scene",
    "SensorGeometry",
    "SimulatedAcquisition",
    "SimulatedPair",
    "SlcGrid",
    "backscatter_map",
    "db_to_linear",
    "equivalent_number_of_looks",
    "expected_sample_coherence",
    "field_states",
    "generate_scene",
    "homogeneous_scene",
    "intensity_coherence",
    "linear_to_db",
    "load_model",
    "plan_change_events",
    "sample_coherence",
    "simulate_pair",
    "simulate_series",
    "temporal_coherence",
    "thermal_coherence",
    "true_coherence",
]


def __getattr__(name: str) -> Any:
    # load_model pulls in torch: import it only when asked for.
    if name == "load_model":
        from .learning.artefact import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
