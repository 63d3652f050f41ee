"""What one training job must do, as plain data shared by both engines.

A `TrainSpec` is built by the workflow from the validated config and handed to an
engine as JSON, so it holds only JSON-friendly values and never imports TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "gelu", "linear")
INITIALIZERS = ("he_uniform", "he_normal", "glorot_uniform", "glorot_normal")
OPTIMIZERS = ("adam", "sgd")
ENGINES = ("fused", "keras")


@dataclass(frozen=True)
class TrainSpec:
    """Model, optimizer and budget of one (batch size, condition) training job.

    `learning_rate` is the rate this batch size actually uses (after any lr-scaling
    arm), so an engine never needs to know about scaling rules.
    """

    batch_size: int
    epochs: int
    seeds: tuple[int, ...]
    hidden_layers: tuple[int, ...] = (50,)
    activation: str = "relu"
    initializer: str = "he_uniform"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    momentum: float = 0.0
    nesterov: bool = False
    warmup_epochs: int = 0
    engine: str = "fused"
    custom_model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # JSON round-trips give lists; keep the dataclass hashable and comparable.
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "hidden_layers", tuple(int(h) for h in self.hidden_layers))

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, so equal specs give equal strings (stable rerun params)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TrainSpec:
        return cls(**json.loads(text))

    def resolved(self, n_train: int) -> TrainSpec:
        """The spec with its epoch count fixed: a step budget becomes the whole number of
        epochs that gives every batch size at least that many updates."""
        steps = self.extra.get("budget_steps")
        if not steps:
            return self
        epochs = -(-int(steps) // steps_per_epoch(n_train, self.batch_size))
        return replace(self, epochs=epochs)

    @property
    def fused_capable(self) -> bool:
        """True when the fused engine can express this model (the configurable MLP family)."""
        return self.custom_model is None


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Optimizer steps in one epoch: the partial last batch is a step too."""
    if n_train <= 0 or batch_size <= 0:
        raise ValueError(f"n_train and batch_size must be positive, got {n_train}, {batch_size}")
    return -(-n_train // batch_size)
