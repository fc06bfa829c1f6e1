"""cohcube.model: SAR physics, classical estimators and the coherence network.

The physics core (simulator, decorrelation terms, estimators) depends on
NumPy/SciPy only; training, export and inference live in their own modules.
"""

from typing import Any

from .change_events import ChangeEvent, ChangeKind, FieldState, field_states, plan_change_events
from .decorrelation import temporal_coherence, thermal_coherence
from .estimators import (
    equivalent_number_of_looks,
    expected_sample_coherence,
    intensity_coherence,
    sample_coherence,
)
from .landcover import (
    CLASS_PHYSICS,
    POLARIZATIONS,
    LandCover,
    Scene,
    backscatter_map,
    generate_scene,
    homogeneous_scene,
)
from .radiometry import SENTINEL1_IW_NESZ_DB, db_to_linear, linear_to_db
from .sensor import SensorGeometry, SlcGrid
from .simulator import (
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
        from .artefact import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
