"""The settling-threshold calibration check (benchmarks/settling_threshold.py) on known curves."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import settling_threshold as st  # noqa: E402

EPOCHS = 100
KEYS = {"dataset": "blobs", "optimizer": "adam", "lr_scaling": "constant", "base_lr": 0.001}


def _history() -> pd.DataFrame:
    """A flat run, a run whose accuracy rises 0.005 per epoch to the end, a diverged run."""
    epoch = np.arange(1, EPOCHS + 1)
    curves = {
        0: (np.full(EPOCHS, 0.8), np.full(EPOCHS, 0.5)),
        1: (0.3 + 0.005 * epoch, 1.0 - 0.004 * epoch),
        2: (np.full(EPOCHS, 0.5), np.where(epoch > 50, np.inf, 0.9)),
    }
    return pd.concat(
        pd.DataFrame(
            KEYS
            | {"budget": "e100", "batch_size": 32, "seed": seed, "epoch": epoch}
            | {"val_accuracy": acc, "val_loss": loss}
        )
        for seed, (acc, loss) in curves.items()
    )


def test_cut_runs_reads_slopes_and_later_moves_of_finite_runs_only():
    cuts = st.cut_runs(_history(), [60], window=5, k_last=10)
    assert len(cuts) == 2  # the diverged run has no plateau
    flat, rising = cuts.iloc[0], cuts.iloc[1]
    assert flat["slope_acc"] == pytest.approx(0) and flat["acc_moved"] == pytest.approx(0)
    assert rising["slope_acc"] == pytest.approx(0.005)
    assert rising["acc_moved"] == pytest.approx(0.2)  # 40 more epochs at 0.005


def test_classify_counts_flat_runs_that_still_moved():
    cuts = st.cut_runs(_history(), [60], window=5, k_last=10)
    rows = {r["threshold"]: r for r in st.classify(cuts, (0.003, 0.01), 0.03, 0.10)}
    assert rows[0.003]["flat"] == 1
    assert rows[0.003]["flat_but_moved"] == 0 and rows[0.003]["stayed_not_flat"] == 0
    # A looser threshold calls the rising run flat too: half the flat runs then still moved.
    assert rows[0.01]["flat"] == 2 and rows[0.01]["flat_but_moved"] == 0.5


def test_noise_floor_grows_as_the_validation_split_shrinks():
    small = st.noise_floor(100, 0.83, window=5, k_last=10, reps=500)
    large = st.noise_floor(10_000, 0.83, window=5, k_last=10, reps=500)
    assert small["quantiles"]["95"] > 5 * large["quantiles"]["95"]  # noise ∝ 1/√n_val
    assert large["share_above"]["0.003"] == 0
