"""How well can coherence be known from detected images? Field-level oracle bounds.

The simulator draws every field's long-term coherence ``gamma_inf`` and
decorrelation time ``tau`` at random from its class's distribution, so part of
the true coherence is not written in the backscatter at all. This module
measures that part on simulated scenes: it gives *generous* estimators more
than two detected images reveal and scores the best they can do.

Each estimator knows every field's outline and the pixel's exact thermal
decorrelation (so only the temporal term is left to guess) and predicts a
field's temporal coherence from one *information set* of per-field features:

- ``backscatter``: the field's noise-free sigma0 (VV, VH) at both dates;
- ``backscatter+speckle``: plus everything the speckle of the two detected
  images says about the field: the intensity correlation of the two dates
  over the field (Siegert: ``|gamma|^2`` when registered), the same after
  removing the static texture, the VH correlation, the spread of log
  intensity, and the exact misregistration;
- ``class``: the field's class at the first date;
- ``labels``: the field's class at both dates and whether it changed;
- ``labels+speckle``: both of the above.

The predictor is the conditional mean ``E[temporal | features]``, fitted by a
small MLP on the training split and weighted so that it minimises the pixel
MSE; scores are RMSE against the true coherence on the test split (the same
scenes ``cohcube evaluate`` uses). The MLP and the feature list only
approximate the Bayes estimator, so the figures are estimates of the bound,
not proofs; every feature is one a detected-image method could at best
approach (noise-free backscatter and known outlines are better than any
segmentation of 4.4-look images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage

from cohcube.model.learning.config import DataConfig
from cohcube.model.learning.training_data import SceneJob, map_scenes, scene_pair
from cohcube.model.physics.landcover import POLARIZATIONS, LandCover
from cohcube.model.physics.sensor import SensorGeometry
from cohcube.model.physics.simulator import (
    SimulatedPair,
    field_temporal_coherence,
    thermal_coherence_map,
)

#: Information sets: name -> feature columns of ``FieldTable.features``.
INFORMATION_SETS: dict[str, tuple[str, ...]] = {
    "none": (),
    "backscatter": ("sigma0_db",),
    "backscatter+speckle": ("sigma0_db", "speckle"),
    "class": ("first_class",),
    "labels": ("labels",),
    "labels+speckle": ("labels", "speckle"),
}

#: Side of the window that estimates the local mean removed before the texture-free correlation.
HIGHPASS_WINDOW_PX = 5


@dataclass
class FieldTable:
    """Per-field features and targets of one simulated pair, with the pixel maps to score.

    Attributes:
        sigma0_db: ``(F, 4)`` noise-free field backscatter, dB: VV t1, VV t2, VH t1, VH t2.
        speckle: ``(F, 7)`` VV intensity correlation, VV correlation after dividing
            by the local mean, VH intensity correlation, std of ln VV intensity at
            t1 and t2, misregistration length (px), log10 of the field's pixel count.
        labels: ``(F, 11)`` one-hot class at t1 (5), class at t2 (5), changed (1).
        temporal: ``(F,)`` true temporal coherence of the field (0 across a change).
        weight: ``(F,)`` sum over the field's pixels of the squared thermal
            coherence: the weight that makes field errors add up to pixel MSE.
        field_index: ``(ny, nx)`` row of this table for every pixel.
        thermal: ``(ny, nx)`` exact thermal coherence (VV).
        truth: ``(ny, nx)`` true coherence (VV) = thermal x temporal of the field.
    """

    sigma0_db: NDArray[np.float64]
    speckle: NDArray[np.float64]
    labels: NDArray[np.float64]
    temporal: NDArray[np.float64]
    weight: NDArray[np.float64]
    field_index: NDArray[np.int32]
    thermal: NDArray[np.float32]
    truth: NDArray[np.float32]

    @property
    def first_class(self) -> NDArray[np.float64]:
        """``(F, 5)`` one-hot class at the first date."""
        return self.labels[:, : len(LandCover)]

    def features(self, information: str) -> NDArray[np.float64]:
        """Feature matrix ``(F, n)`` of one of ``INFORMATION_SETS``."""
        columns = [getattr(self, name) for name in INFORMATION_SETS[information]]
        if not columns:
            return np.zeros((len(self.temporal), 1))
        return np.column_stack(columns)


def _field_means(
    index: NDArray[np.int32], count: NDArray[np.float64], image: NDArray[np.float64]
) -> NDArray[np.float64]:
    return np.bincount(index, weights=image.ravel(), minlength=len(count)) / count


def _field_correlation(
    index: NDArray[np.int32],
    count: NDArray[np.float64],
    a: NDArray[np.float64],
    b: NDArray[np.float64],
) -> NDArray[np.float64]:
    ma, mb = _field_means(index, count, a), _field_means(index, count, b)
    cov = _field_means(index, count, a * b) - ma * mb
    var_a = _field_means(index, count, a * a) - ma**2
    var_b = _field_means(index, count, b * b) - mb**2
    return np.asarray(cov / np.sqrt(np.maximum(var_a * var_b, 1e-30)))


def field_table(pair: SimulatedPair) -> FieldTable:
    """Features of every field of a two-polarisation ``pair`` (VV and VH, in that order)."""
    if pair.polarizations != POLARIZATIONS:
        raise ValueError(f"field_table needs a pair simulated with {POLARIZATIONS}")
    first, second = pair.states
    present, inverse = np.unique(pair.scene.field_id, return_inverse=True)
    field_index = np.asarray(inverse.reshape(pair.scene.shape), dtype=np.int32)
    index = field_index.ravel()
    count = np.bincount(index).astype(np.float64)

    # The same two factors simulate_pair multiplies into the true coherence.
    thermal = thermal_coherence_map(pair.scene, first, second, "VV", SensorGeometry().nesz_db)
    temporal = field_temporal_coherence(first, second)[present]
    same_epoch = first.epoch[present] == second.epoch[present]

    vv1, vv2 = (img[0].astype(np.float64) for img in (pair.reference, pair.secondary))
    vh1, vh2 = (img[1].astype(np.float64) for img in (pair.reference, pair.secondary))

    def highpass(image: NDArray[np.float64]) -> NDArray[np.float64]:
        local = ndimage.uniform_filter(image, HIGHPASS_WINDOW_PX, mode="reflect")
        return np.asarray(image / np.maximum(local, 1e-12))

    def log_sd(image: NDArray[np.float64]) -> NDArray[np.float64]:
        log_i = np.log(np.maximum(image, 1e-12))
        mean = _field_means(index, count, log_i)
        return np.asarray(np.sqrt(np.maximum(_field_means(index, count, log_i**2) - mean**2, 0.0)))

    speckle = np.column_stack(
        [
            _field_correlation(index, count, vv1, vv2),
            _field_correlation(index, count, highpass(vv1), highpass(vv2)),
            _field_correlation(index, count, vh1, vh2),
            log_sd(vv1),
            log_sd(vv2),
            np.full(len(present), float(np.hypot(*pair.misregistration_px))),
            np.log10(count),
        ]
    )
    classes = len(LandCover)
    labels = np.column_stack(
        [first.fields.land_cover[present] == c for c in range(classes)]
        + [second.fields.land_cover[present] == c for c in range(classes)]
        + [~same_epoch]
    ).astype(np.float64)
    return FieldTable(
        sigma0_db=np.column_stack(
            [
                first.fields.sigma0_db[present, 0],
                second.fields.sigma0_db[present, 0],
                first.fields.sigma0_db[present, 1],
                second.fields.sigma0_db[present, 1],
            ]
        ),
        speckle=speckle,
        labels=labels,
        temporal=temporal,
        weight=np.bincount(index, weights=(thermal**2).ravel()).astype(np.float64),
        field_index=field_index,
        thermal=thermal.astype(np.float32),
        truth=pair.coherence_true[0],
    )


def _simulate_table(args: SceneJob) -> FieldTable:
    data, baseline_days, seed = args
    return field_table(scene_pair(data, baseline_days, seed))


def simulate_field_tables(
    data: DataConfig, split: str, n_scenes: int, seed: int, baseline_days: float
) -> list[FieldTable]:
    """Field tables of scenes ``0 .. n_scenes-1`` of ``split``.

    The scenes are exactly those ``simulate_patches`` (and so ``cohcube
    evaluate``) draws for the same ``data``, ``split``, ``seed`` and baseline.
    """
    return map_scenes(_simulate_table, data, split, n_scenes, seed, baseline_days)


FieldPredictor = Callable[[FieldTable], NDArray[np.float64]]


def _stacked(tables: Sequence[FieldTable], name: str) -> NDArray[np.float64]:
    return np.concatenate([getattr(t, name) for t in tables])


def fit_conditional_mean(
    tables: Sequence[FieldTable],
    information: str,
    *,
    seed: int = 0,
    epochs: int = 60,
    hidden: int = 128,
) -> FieldPredictor:
    """Fit ``E[temporal coherence | features]`` on ``tables`` with a weighted-MSE MLP.

    Args:
        tables: training fields.
        information: one of ``INFORMATION_SETS``.
        seed: torch seed (initialisation and batch order).
        epochs: passes over the fields.
        hidden: width of the two hidden layers.

    Returns:
        A function from a table to its fields' predicted temporal coherence, in [0, 1].
    """
    if information not in INFORMATION_SETS:
        raise ValueError(
            f"unknown information set {information!r}; one of {list(INFORMATION_SETS)}"
        )
    features = np.concatenate([t.features(information) for t in tables])
    target = _stacked(tables, "temporal")
    weight = _stacked(tables, "weight")
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-9
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.tensor((features - mean) / scale, dtype=torch.float32)
    y = torch.tensor(target, dtype=torch.float32)
    w = torch.tensor(weight / weight.mean(), dtype=torch.float32)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 1),
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs)
    batch = 256
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch):
            rows = order[start : start + batch]
            loss = (w[rows] * (net(x[rows]).squeeze(1) - y[rows]) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        schedule.step()
    net.eval()

    def predict(table: FieldTable) -> NDArray[np.float64]:
        scaled = (table.features(information) - mean) / scale
        with torch.no_grad():
            out = net(torch.tensor(scaled, dtype=torch.float32)).squeeze(1).clamp(0.0, 1.0)
        return np.asarray(out.numpy(), dtype=np.float64)

    return predict


def oracle_rmse(tables: Sequence[FieldTable], predict: FieldPredictor) -> float:
    """Pixel RMSE against the true coherence of ``thermal x predicted temporal``."""
    squared, pixels = 0.0, 0
    for table in tables:
        estimate = predict(table)[table.field_index] * table.thermal
        squared += float(np.sum((estimate - table.truth) ** 2))
        pixels += table.truth.size
    return float(np.sqrt(squared / pixels))


def exact_temporal(table: FieldTable) -> NDArray[np.float64]:
    """The fields' true temporal coherence: the estimator that knows everything (RMSE ~ 0)."""
    return table.temporal


__all__ = [
    "INFORMATION_SETS",
    "FieldTable",
    "exact_temporal",
    "field_table",
    "fit_conditional_mean",
    "oracle_rmse",
    "simulate_field_tables",
]
