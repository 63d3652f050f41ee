"""Keras models and optimizers of the study (imported only by the training engines).

Keras is imported inside the functions so that importing this module, e.g. to check a
config, costs nothing.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

from ..spec import LrVariant, TrainSpec


class ModelError(ValueError):
    """A custom model entry cannot be used."""


def build_mlp(spec: TrainSpec, n_features: int, n_classes: int) -> Any:
    """The seed's model family: Dense hidden layers, then a softmax over the classes."""
    import keras

    layers = [keras.Input(shape=(n_features,))]
    for width in spec.hidden_layers:
        layers.append(
            keras.layers.Dense(
                width, activation=spec.activation, kernel_initializer=spec.initializer
            )
        )
    layers.append(keras.layers.Dense(n_classes, activation="softmax"))
    return keras.Sequential(layers)


def load_builder(ref: str, base: str | Path = ".") -> Any:
    """Import `file.py:function` (path relative to `base`) without touching sys.path for good."""
    if ":" not in ref:
        raise ModelError(f"model.custom {ref!r} must look like 'path/to/file.py:function'")
    file_part, func_name = ref.rsplit(":", 1)
    path = Path(file_part)
    if not path.is_absolute():
        path = Path(base) / path
    if not path.is_file():
        raise ModelError(f"model.custom file {path} does not exist")
    mod_name = f"batchstudy_custom_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ModelError(f"model.custom file {path} cannot be imported")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # the user's code may fail in any way; say where
        raise ModelError(f"model.custom file {path} failed to import: {exc!r}") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ModelError(f"model.custom {ref!r}: {path} has no function {func_name!r}")
    return func


def build_custom(spec: TrainSpec, n_features: int, n_classes: int, base: str | Path = ".") -> Any:
    import keras

    assert spec.custom_model is not None
    builder = load_builder(spec.custom_model, base)
    try:
        model = builder(n_features, n_classes)
    except Exception as exc:  # the user's code may fail in any way; say whose it is
        raise ModelError(f"model.custom {spec.custom_model!r} raised {exc!r}") from exc
    if not isinstance(model, keras.Model):
        raise ModelError(
            f"model.custom {spec.custom_model!r} returned {type(model).__name__}, not a keras.Model"
        )
    return model


#: The layer settings `layer_words` names, in this order, when a layer has them.
LAYER_SETTINGS = ("units", "filters", "kernel_size", "rate", "activation", "kernel_initializer")


def layer_words(class_name: str, config: dict[str, Any]) -> str:
    """One layer in words, from its class name and Keras ``get_config()``: the settings of
    `LAYER_SETTINGS` it has, an activation other than "linear", a serialized object (an
    initializer) by its class in the config's spelling: "Dense(64, relu, he_uniform)",
    "Dropout(0.2)"; a layer with none of them by its class alone ("Flatten")."""
    parts = []
    for key in LAYER_SETTINGS:
        value = config.get(key)
        if isinstance(value, dict):  # a serialized Keras object: HeUniform -> he_uniform
            value = re.sub(r"(?<!^)(?=[A-Z])", "_", str(value.get("class_name", ""))).lower()
        if isinstance(value, list | tuple):
            value = "×".join(map(str, value))
        if value is None or value == "" or (key == "activation" and value == "linear"):
            continue
        parts.append(str(value))
    return f"{class_name}({', '.join(parts)})" if parts else class_name


def describe_layers(model: Any) -> list[str]:
    """A built Keras model's layers in order (input layers left out), by `layer_words`."""
    return [layer_words(type(layer).__name__, layer.get_config()) for layer in model.layers]


def weights_device(model: Any) -> str:
    """The device that holds `model`'s first weight, as its backend names it (e.g.
    ``cuda:0``, ``TFRT_CPU_0``, ``/job:localhost/replica:0/task:0/device:GPU:0``): where the
    backend actually trained it. "" for a model without weights."""
    if not model.weights:
        return ""
    value = model.weights[0].value
    if hasattr(value, "devices"):  # a JAX array: the set of devices it lives on
        return ", ".join(sorted(str(d) for d in value.devices()))
    return str(getattr(value, "device", ""))


def learning_rate(variant: LrVariant) -> Any:
    """`variant`'s rate: constant, or a linear warmup over its `warmup_steps`, then constant
    (``lr * min(1, (iterations + 1) / warmup_steps)``, see `spec.LrVariant`)."""
    if variant.warmup_steps <= 0:
        return variant.learning_rate
    import keras

    rate, warm_steps = variant.learning_rate, float(variant.warmup_steps)

    @keras.saving.register_keras_serializable(package="batchstudy")
    class Warmup(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step: Any) -> Any:
            frac = keras.ops.minimum(1.0, (keras.ops.cast(step, "float32") + 1.0) / warm_steps)
            return rate * frac

        def get_config(self) -> dict[str, Any]:
            return {}

    return Warmup()


def make_optimizer(spec: TrainSpec, variant: LrVariant) -> Any:
    """Keras' Adam or SGD with the spec's settings and `variant`'s learning rate and warmup."""
    import keras

    lr = learning_rate(variant)
    if spec.optimizer == "adam":
        return keras.optimizers.Adam(
            learning_rate=lr, beta_1=spec.beta_1, beta_2=spec.beta_2, epsilon=spec.epsilon
        )
    if spec.optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate=lr, momentum=spec.momentum, nesterov=spec.nesterov
        )
    raise ValueError(f"optimizer {spec.optimizer!r} is not one of adam, sgd")
