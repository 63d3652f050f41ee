"""What one training job must do, as plain data shared by both engines.

A `TrainSpec` is built by the workflow from the validated config and handed to an
engine as JSON, so it holds only JSON-friendly values and never imports TensorFlow.

One job is one (dataset, optimizer, budget, batch size). It trains ``R = len(variants) *
len(seeds)`` replicas: every learning-rate variant (an lr arm and base rate, see `LrVariant`)
for every seed, variant-major (replica ``r`` is variant ``r // len(seeds)``, seed
``seeds[r % len(seeds)]``). The fused engine puts all of them on its replica axis; the Keras
engine trains them one after another.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .schema import default_of

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "gelu", "linear")
INITIALIZERS = ("he_uniform", "he_normal", "glorot_uniform", "glorot_normal")
OPTIMIZERS = ("adam", "sgd")
ENGINES = ("fused", "keras")
#: Keras 3 backends the Keras engine can run on; the fused engine is TensorFlow only.
BACKENDS = ("tensorflow", "jax", "torch")


@dataclass(frozen=True)
class LrVariant:
    """One learning-rate setting of a job: the replicas of one variant differ only by seed.

    `lr_scaling` names the arm (``constant``, ``linear``, ``sqrt``) and `base_lr` the
    optimizer's configured rate; `learning_rate` is the rate this batch size actually uses
    after the arm's scaling, so an engine never needs to know about scaling rules.
    Warmup is linear from ``learning_rate / warmup_steps`` to `learning_rate` over the first
    `warmup_steps` optimizer steps (``lr * min(1, (iteration + 1) / warmup_steps)``);
    `warmup_epochs` is the config's older unit and is turned into steps by
    `TrainSpec.resolved`, which knows the training split's size.
    """

    lr_scaling: str
    base_lr: float
    learning_rate: float
    warmup_steps: int = 0
    warmup_epochs: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", float(self.base_lr))
        object.__setattr__(self, "learning_rate", float(self.learning_rate))
        object.__setattr__(self, "warmup_steps", int(self.warmup_steps))
        object.__setattr__(self, "warmup_epochs", int(self.warmup_epochs))


def _default_variant() -> LrVariant:
    """The config's default optimizer and arm as a variant (the schema's defaults)."""
    (opt,) = default_of("optimizers").values()
    return LrVariant(
        default_of("lr_scaling", "arms")[0], opt["learning_rate"], opt["learning_rate"]
    )


@dataclass(frozen=True)
class TrainSpec:
    """Model, optimizer, learning-rate variants and budget of one training job.

    The workflow fills every field from the validated config (`batchstudy.config.train_spec`);
    the defaults, for specs built directly, are the config schema's (never restated here).

    `eval_every_steps` ``k > 0``: besides the end of every epoch, both engines evaluate the
    validation split (and a separate test split) after every k-th optimizer step of the run
    (global steps, crossing epoch boundaries), with the weights after that step; 0: only at
    epoch ends (the job's ``evals.tsv`` then repeats those evaluations, see `io.EVAL_COLUMNS`).
    """

    batch_size: int
    epochs: int
    seeds: tuple[int, ...]
    variants: tuple[LrVariant, ...] = (_default_variant(),)
    hidden_layers: tuple[int, ...] = tuple(default_of("model", "hidden_layers"))
    activation: str = default_of("model", "activation")
    initializer: str = default_of("model", "initializer")
    optimizer: str = next(iter(default_of("optimizers").values()))["name"]
    beta_1: float = default_of("$defs", "adam_defaults", "beta_1")
    beta_2: float = default_of("$defs", "adam_defaults", "beta_2")
    epsilon: float = default_of("$defs", "adam_defaults", "epsilon")
    momentum: float = default_of("$defs", "sgd_defaults", "momentum")
    nesterov: bool = default_of("$defs", "sgd_defaults", "nesterov")
    engine: str = default_of("engine")
    eval_every_steps: int = default_of("eval_every_steps")
    backend: str = default_of("backend")
    custom_model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # JSON round-trips give lists and dicts; keep the dataclass hashable and comparable.
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "hidden_layers", tuple(int(h) for h in self.hidden_layers))
        object.__setattr__(
            self,
            "variants",
            tuple(v if isinstance(v, LrVariant) else LrVariant(**v) for v in self.variants),
        )
        object.__setattr__(self, "eval_every_steps", int(self.eval_every_steps))
        if not self.variants:
            raise ValueError("a training job needs at least one learning-rate variant")
        if self.eval_every_steps < 0:
            raise ValueError(f"eval_every_steps must be >= 0, got {self.eval_every_steps}")

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, so equal specs give equal strings (stable rerun params)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TrainSpec:
        return cls(**json.loads(text))

    @property
    def replicas(self) -> list[tuple[LrVariant, int]]:
        """(variant, seed) of every replica, variant-major: the order of every engine's output."""
        return [(v, s) for v in self.variants for s in self.seeds]

    def resolved(self, n_train: int) -> TrainSpec:
        """The spec with its epoch count and warmups fixed for a training split of `n_train`.

        A step budget becomes the whole number of epochs that gives every batch size at least
        that many updates; a warmup given in epochs becomes that many epochs' steps.
        """
        spe = steps_per_epoch(n_train, self.batch_size)
        variants = tuple(
            replace(v, warmup_steps=v.warmup_epochs * spe, warmup_epochs=0)
            if v.warmup_epochs
            else v
            for v in self.variants
        )
        out = replace(self, variants=variants)
        steps = self.extra.get("budget_steps")
        if steps:
            out = replace(out, epochs=-(-int(steps) // spe))
        return out

    @property
    def fused_capable(self) -> bool:
        """True when the fused engine can express this model (the configurable MLP family)."""
        return self.custom_model is None


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Optimizer steps in one epoch: the partial last batch is a step too."""
    if n_train <= 0 or batch_size <= 0:
        raise ValueError(f"n_train and batch_size must be positive, got {n_train}, {batch_size}")
    return -(-n_train // batch_size)
