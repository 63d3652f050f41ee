"""The simple gradient noise scale of McCandlish et al. (2018), from per-example gradients.

Plain numpy: the per-example gradients come from a training engine (see
`batchstudy.engines.noise`), the arithmetic lives here so that it can be tested exactly.

**Estimator.** Let g_1 .. g_n be the gradients of the per-example losses at the current
parameters, one per training example, over the *whole* training set (an n x P matrix). Then

    G        = (1/n) * sum_i g_i                   (the full-batch gradient of the mean loss)
    tr(Sigma) = (1/n) * sum_i |g_i - G|^2           (trace of the per-example covariance)
    B_simple = tr(Sigma) / |G|^2

* The distribution SGD draws its examples from is the training set itself (every epoch of a
  minibatch run samples these n rows), so G and Sigma are that distribution's *exact* mean and
  covariance, not estimates: |G|^2 is not the biased |mean of a minibatch|^2 that the paper's
  two-batch-size estimator has to correct, because all n examples are used.
* Hence the denominator n (`DDOF` = 0), the population covariance of the n examples: a
  minibatch of B examples drawn with replacement then has gradient covariance Sigma / B, the
  quantity the theory's B_simple is built from. The n - 1 denominator would instead estimate
  the covariance of an unseen data distribution from which the training set were a sample;
  the two differ by the factor n / (n - 1), 0.2% at n = 500, immaterial at the study's sizes.
* tr(Sigma) is computed from the centred gradients (not as mean |g_i|^2 - |G|^2), which
  would lose all precision when |G| is small next to the per-example gradients, late in
  training, exactly where the noise scale is largest.
* The theory is derived for SGD; with Adam (whose update is not the gradient) B_simple is a
  heuristic for where the critical batch size lies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Delta degrees of freedom of tr(Sigma): 0, the training set is the whole population SGD
#: samples from (see the module docstring).
DDOF = 0

#: Names of the values `noise_scale_stats` returns, in the order of `noise_scale.tsv`.
NOISE_COLUMNS: tuple[str, ...] = ("b_simple", "trace_sigma", "grad_norm_sq")


def noise_scale_stats(per_example_grads: np.ndarray) -> dict[str, Any]:
    """B_simple, tr(Sigma) and |G|^2 of an n x P matrix of per-example gradients.

    Rows are examples, columns parameters (all of the model's trainable variables flattened
    into one vector). Computed in float64 whatever the input's precision. Edge cases:

    * G = 0 with tr(Sigma) > 0 (an exact stationary point of the mean loss): B_simple = +inf;
      G = 0 and tr(Sigma) = 0 (every per-example gradient zero): B_simple = NaN (0/0).
    * n = 1: tr(Sigma) = 0, so B_simple = 0 (or NaN when that one gradient is 0 too).
    * Any non-finite gradient (a diverged model): all three values NaN, so that the row of a
      broken checkpoint is recorded rather than raised.
    * An empty matrix (n = 0 or P = 0) or one that is not 2-D raises ValueError.
    """
    g = np.asarray(per_example_grads, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] == 0 or g.shape[1] == 0:
        raise ValueError(f"per-example gradients must be a non-empty n x P matrix, got {g.shape}")
    n, n_params = g.shape
    base = {"n_examples": int(n), "n_params": int(n_params)}
    if not np.all(np.isfinite(g)):
        return dict.fromkeys(NOISE_COLUMNS, float("nan")) | base
    mean = g.mean(axis=0)
    grad_norm_sq = float(mean @ mean)
    trace_sigma = float(np.sum((g - mean) ** 2) / (n - DDOF)) if n > DDOF else 0.0
    return {
        "b_simple": _ratio(trace_sigma, grad_norm_sq),
        "trace_sigma": trace_sigma,
        "grad_norm_sq": grad_norm_sq,
    } | base


def _ratio(trace_sigma: float, grad_norm_sq: float) -> float:
    """tr(Sigma)/|G|^2 with the edge cases of `noise_scale_stats` (x/0 = inf, 0/0 = NaN)."""
    if grad_norm_sq > 0:
        return trace_sigma / grad_norm_sq
    return float("inf") if trace_sigma > 0 else float("nan")
