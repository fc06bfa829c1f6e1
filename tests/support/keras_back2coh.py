"""The paper's published GRD model rebuilt in Keras 3 (torch backend), for import parity tests.

Written from the architecture the authors publish (layer types, widths,
names and numerics of "Back2Coh_GRD_GEE"); random weights, saved in both H5
layouts their loader accepts: Keras 3 ``.weights.h5`` and legacy Keras 2 H5.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py
import keras
import numpy as np
from keras import layers

WIDTHS = (32, 64, 128, 256, 512)


def _name(base: str, index: int) -> str:
    return base if index == 0 else f"{base}_{index}"


def _block(x: Any, filters: int, k: int) -> Any:
    def conv(size: int, name: str) -> layers.Conv2D:
        return layers.Conv2D(
            filters, size, padding="same", kernel_initializer="he_normal", name=name
        )

    def norm(index: int) -> layers.BatchNormalization:
        return layers.BatchNormalization(
            axis=3, momentum=0.9, epsilon=1e-4, name=_name("batch_normalization", index)
        )

    y = conv(3, _name("conv2d", 3 * k + 1))(x)
    y = layers.Activation("relu", name=_name("activation", 2 * k))(norm(2 * k)(y))
    y = conv(3, _name("conv2d", 3 * k + 2))(y)
    shortcut = conv(1, _name("conv2d", 3 * k))(x)
    y = norm(2 * k + 1)(y)
    y = layers.Add(name=_name("add", k))([shortcut, y])
    return layers.Activation("relu", name=_name("activation", 2 * k + 1))(y)


def build(size: tuple[int | None, int | None] = (None, None)) -> keras.Model:
    """The network on NHWC inputs of ``size`` (None: any multiple of 16)."""
    inputs = layers.Input(shape=(*size, 2), name="input")
    skips, x = [], inputs
    for k, width in enumerate(WIDTHS):
        x = _block(x, width, k)
        if k < 4:
            skips.append(x)
            x = layers.MaxPool2D(2, name=f"maxpool_{width}-{2 * width}")(x)
    for step, width in enumerate(reversed(WIDTHS[:4])):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=_name("up_sampling2d", step))(x)
        x = layers.Conv2D(
            width,
            2,
            activation="relu",
            padding="same",
            kernel_initializer="he_normal",
            name=f"upsampling_{width}-{width // 2}",
        )(x)
        x = layers.Concatenate(axis=3, name=f"concat{width}")([skips.pop(), x])
        x = _block(x, width, 5 + step)
    heads = [
        layers.Conv2D(1, 1, activation="sigmoid", kernel_initializer="he_normal", name=name)(x)
        for name in ("mean", "log_variance")
    ]
    outputs = layers.Concatenate(axis=3, name="output")(heads)
    return keras.Model(inputs, outputs, name="Back2Coh_GRD_GEE")


def randomise(model: keras.Model, seed: int = 0) -> keras.Model:
    """Random weights, with batch-norm statistics far from their defaults so they matter."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for weight in layer.weights:
            shape, path = tuple(weight.shape), weight.path
            if "moving_variance" in path:
                values.append(rng.uniform(0.5, 2.0, shape))
            elif "moving_mean" in path or "beta" in path or "bias" in path:
                values.append(rng.normal(0, 0.1, shape))
            elif "gamma" in path:
                values.append(rng.uniform(0.8, 1.2, shape))
            else:
                fan_in = int(np.prod(shape[:-1]))
                values.append(rng.normal(0, np.sqrt(2 / fan_in), shape))
        if values:
            layer.set_weights([v.astype(np.float32) for v in values])
    return model


def save_legacy_h5(model: keras.Model, path: Path) -> Path:
    """Keras 2's ``save_weights(..., .h5)`` layout: ``layer_names``, per layer ``weight_names``."""
    with h5py.File(path, "w") as handle:
        named = list(model.layers)
        handle.attrs["layer_names"] = [layer.name.encode() for layer in named]
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.15.0"
        for layer in named:
            group = handle.create_group(layer.name)
            names = [f"{layer.name}/{w.path.rsplit('/', 1)[-1]}:0" for w in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, weight in zip(names, layer.weights, strict=True):
                group.create_dataset(name, data=np.asarray(weight.numpy()))
    return path


def predict(model: keras.Model, nhwc: np.ndarray) -> np.ndarray:
    """The model's output ``(N, H, W, 2)`` as NumPy."""
    return np.asarray(keras.ops.convert_to_numpy(model(nhwc, training=False)))
