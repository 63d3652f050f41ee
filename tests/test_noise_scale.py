"""The noise-scale estimator against hand-computed and closed-form answers."""

from __future__ import annotations

import numpy as np
import pytest

from batchstudy.noise_scale import noise_scale_stats

# Deviations beyond this many standard errors fail: a chance failure has probability ~6e-7.
Z = 5.0


def test_hand_computed_matrix_uses_the_n_denominator():
    # g = (1, 0), (3, 0), (2, 3): G = (2, 1), |G|^2 = 5,
    # centred: (-1, -1), (1, -1), (0, 2) -> squared norms 2 + 2 + 4 = 8, over n = 3.
    out = noise_scale_stats(np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 3.0]]))
    assert out["grad_norm_sq"] == pytest.approx(5.0)
    assert out["trace_sigma"] == pytest.approx(8.0 / 3.0)
    assert out["b_simple"] == pytest.approx(8.0 / 15.0)
    assert (out["n_examples"], out["n_params"]) == (3, 2)


def test_edge_cases():
    assert noise_scale_stats(np.array([[1.0, -1.0], [-1.0, 1.0]]))["b_simple"] == np.inf
    assert np.isnan(noise_scale_stats(np.zeros((4, 3)))["b_simple"])
    one = noise_scale_stats(np.array([[3.0, 4.0]]))
    assert (one["trace_sigma"], one["grad_norm_sq"], one["b_simple"]) == (0.0, 25.0, 0.0)
    broken = noise_scale_stats(np.array([[np.nan, 1.0], [1.0, 1.0]]))
    assert all(np.isnan(broken[k]) for k in ("b_simple", "trace_sigma", "grad_norm_sq"))
    for bad in (np.zeros((0, 3)), np.zeros((3, 0)), np.zeros(3)):
        with pytest.raises(ValueError):
            noise_scale_stats(bad)


def test_centred_trace_keeps_precision_when_the_mean_is_tiny():
    # |G| = 1e-9 next to per-example gradients of size 1e3: mean|g|^2 - |G|^2 would be all
    # rounding error, the centred sum is exact.
    g = np.array([[1e3 + 1e-9], [-1e3 + 1e-9]])
    out = noise_scale_stats(g)
    assert out["grad_norm_sq"] == pytest.approx(1e-18, rel=1e-4)
    assert out["trace_sigma"] == pytest.approx(1e6)


def test_linear_regression_closed_form():
    """y = x.w* + eps, x ~ N(0, I_d), eps ~ N(0, s^2), loss (x.w - y)^2 / 2 at w = w* + delta.

    The per-example gradient is g = x (x.delta - eps), so (Isserlis' theorem)
    G = delta and Sigma = (|delta|^2 + s^2) I + delta delta^T:
    tr(Sigma) = d (|delta|^2 + s^2) + |delta|^2 and |G|^2 = |delta|^2.
    Over n sampled examples the estimator's expectations are E[tr] = tr(Sigma) (n - 1) / n and
    E[|G_hat|^2] = |delta|^2 + tr(Sigma) / n; their standard errors are sd(|g_i - G|^2)/sqrt(n)
    and 2 sqrt(delta^T Sigma delta / n) (delta method), so each check allows Z of them.
    """
    rng = np.random.default_rng(12)
    n, d, s = 200_000, 4, 0.5
    delta = np.array([0.3, -0.2, 0.1, 0.4])
    x = rng.standard_normal((n, d))
    eps = rng.normal(0.0, s, n)
    grads = x * (x @ delta - eps)[:, None]
    out = noise_scale_stats(grads)

    dd = float(delta @ delta)
    trace = d * (dd + s**2) + dd
    expected_trace = trace * (n - 1) / n
    se_trace = np.std(np.sum((grads - grads.mean(axis=0)) ** 2, axis=1)) / np.sqrt(n)
    assert abs(out["trace_sigma"] - expected_trace) < Z * se_trace

    quad = (dd + s**2) * dd + dd**2  # delta^T Sigma delta
    se_norm = 2 * np.sqrt(quad / n)
    assert abs(out["grad_norm_sq"] - (dd + trace / n)) < Z * se_norm

    # The ratio's relative error is at most the sum of its parts' relative errors.
    rel = Z * (se_trace / trace + se_norm / dd)
    assert out["b_simple"] == pytest.approx(trace / dd, rel=rel)
    # and the check is sharp enough to tell the answer from a plausible wrong one:
    assert rel < 0.1
    assert abs(out["b_simple"] - d * (dd + s**2) / dd) > rel * trace / dd
