"""The tuning stage on fake tables: targets, steps to target, the frontier, what tuning changed."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import DEFAULT_STUDY, write_fake_job

from batchstudy import claims, config, scaling, stats, tuning
from batchstudy import tuning_findings as tf
from batchstudy import tuning_study as ts
from batchstudy.aggregate import aggregate
from batchstudy.metrics import RUN_KEYS
from batchstudy.stats import IntervalSettings

SETTINGS = IntervalSettings(n_boot=200)
SIZES, RATES, SEEDS, EPOCHS = [8, 32, 128], [0.001, 0.01], [0, 1, 2, 3, 4], 20
METRICS = {
    "smoothing_window": 3,
    "plateau_last": 5,
    "epsilon": 0.01,
    "settling_max_slope": 0.003,
    "chance_margin": 0.02,
    "target_fractions": [0.95],
    "bootstrap": 200,
}


def _faster(history: pd.DataFrame, rate: float) -> pd.DataFrame:
    """Runs at `rate` reach epoch 2e's numbers at epoch e (twice as fast), others unchanged."""
    out = []
    for _, run in history.groupby(["lr_scaling", "base_lr", "seed"]):
        run = run.sort_values("epoch").copy()
        if np.isclose(run["base_lr"].iloc[0], rate):
            idx = np.minimum(2 * np.arange(len(run)) + 1, len(run) - 1)
            for col in ("val_accuracy", "val_loss", "test_accuracy", "test_loss"):
                run[col] = run[col].to_numpy()[idx]
        out.append(run)
    return pd.concat(out)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("tuning")
    for lr, b in itertools.product(RATES, SIZES):
        write_fake_job(root, ("blobs", "adam", "constant", "e20"), b, SEEDS, EPOCHS, base_lr=lr)
    for path in (root / DEFAULT_STUDY.train).glob("**/history.tsv"):
        _faster(pd.read_csv(path, sep="\t"), 0.01).to_csv(path, sep="\t", index=False)
    paths = sorted(str(p) for p in (root / DEFAULT_STUDY.train).glob("**/history.tsv"))
    aggregate(paths, root / "agg", METRICS, log=lambda _: None)
    return {
        n: pd.read_csv(root / "agg" / f"{n}.tsv", sep="\t") for n in ("runs", "summary", "history")
    }


def _analyze(tables, absolute=None, noise=None, shared=(), chance=None):
    curves = ts.curves_from_history(tables["history"], tables["runs"])
    return tf.analyze_tuning(
        tables["runs"],
        tables["summary"],
        curves,
        ts.RESOLUTION_EPOCHS,
        absolute=absolute or {},
        fraction=0.95,
        noise=noise or {},
        settings=SETTINGS,
        shared_validation=shared,
        chance=chance,
    )


def test_reference_rate_is_the_middle_of_the_grid():
    assert config.reference_lr([0.1, 0.001, 0.01]) == 0.01
    assert config.reference_lr([0.003, 0.03]) == 0.003  # lower middle
    with pytest.raises(ValueError):
        config.reference_lr([])


def test_relative_target_is_fraction_of_the_best_cell_over_batch_sizes_and_rates(tables):
    runs = tables["runs"]
    targets = ts.group_targets(runs, {}, 0.95)
    best = runs.groupby(["batch_size", "base_lr"])["plateau_val_accuracy"].mean().max()
    assert len(targets) == 1 and targets["target_kind"].iloc[0] == ts.RELATIVE
    assert targets["target_accuracy"].iloc[0] == pytest.approx(0.95 * best)


def test_relative_loss_target_is_the_lowest_median_cell_plateau_loss(tables):
    """One run of the best cell exploding (1e29, not diverged) leaves the loss target where
    the cell's median puts it; a mean would follow the exploded run."""
    runs = tables["runs"].copy()
    keys = ["batch_size", "base_lr"]
    best_cell = runs.groupby(keys)["plateau_val_loss"].median().idxmin()
    in_best = (runs["batch_size"] == best_cell[0]) & (runs["base_lr"] == best_cell[1])
    assert in_best.sum() >= 3  # a median of three or more ignores one exploded run
    runs.loc[runs.index[in_best][0], "plateau_val_loss"] = 1e29
    medians = runs.loc[~runs["diverged"].astype(bool)].groupby(keys)["plateau_val_loss"].median()
    target = ts.group_targets(runs, {}, 0.95)["target_loss"].iloc[0]
    assert target == pytest.approx(medians.min() / 0.95)
    assert target < 10 * tables["runs"]["plateau_val_loss"].max()


def test_absolute_target_comes_from_the_config(tables):
    targets = ts.group_targets(
        tables["runs"], {"blobs": {"val_accuracy": 0.7, "val_loss": 0.5}}, 0.95
    )
    row = targets.iloc[0]
    assert (row["target_kind"], row["target_accuracy"], row["target_loss"]) == (
        ts.ABSOLUTE,
        0.7,
        0.5,
    )


def test_steps_to_target_is_the_first_epoch_reaching_it_times_steps_per_epoch(tables):
    runs, history = tables["runs"], tables["history"]
    targets = ts.group_targets(runs, {"blobs": {"val_accuracy": 0.7, "val_loss": 0.5}}, 0.95)
    out = ts.steps_to_targets(runs, ts.curves_from_history(history, runs), targets)
    run = out.iloc[0]
    curve = history.merge(out.iloc[[0]][list(RUN_KEYS)]).sort_values("epoch")
    first = int(curve.loc[curve["val_accuracy"] >= 0.7, "epoch"].iloc[0])
    assert run["steps_to_target_accuracy"] == first * run["steps_per_epoch"]
    assert run["examples_to_target_accuracy"] == first * run["n_train"]
    first_loss = int(curve.loc[curve["val_loss"] <= 0.5, "epoch"].iloc[0])
    assert run["epochs_to_target_loss"] == first_loss


def test_steps_from_evals_use_their_own_steps_and_censor_diverged_runs():
    runs = pd.DataFrame(
        [
            {
                **dict.fromkeys(RUN_KEYS, 0),
                "dataset": "d",
                "optimizer": "o",
                "lr_scaling": "constant",
                "base_lr": 0.1,
                "budget": "e2",
                "batch_size": 10,
                "seed": s,
                "diverged": s == 1,
                "n_train": 25,
                "steps_per_epoch": 3,
                "seconds_per_epoch": 1.0,
            }
            for s in (0, 1)
        ]
    )
    steps = [1, 2, 3, 4, 5, 6]
    acc = [0.1, 0.5, 0.8, 0.9, 0.9, 0.9]
    evals = pd.concat(
        [
            runs[list(RUN_KEYS)]
            .iloc[[i] * 6]
            .assign(
                learning_rate=0.1,
                step=steps,
                epoch=0,
                val_loss=0.3,
                val_accuracy=acc,
                test_loss=0.3,
                test_accuracy=acc,
            )
            for i in (0, 1)
        ]
    )
    targets = pd.DataFrame(
        [
            {
                "dataset": "d",
                "optimizer": "o",
                "lr_scaling": "constant",
                "budget": "e2",
                "target_accuracy": 0.75,
                "target_loss": 0.1,
                "target_kind": ts.ABSOLUTE,
            }
        ]
    )
    out = ts.steps_to_targets(runs, ts.curves_from_evals(evals, runs), targets)
    assert out["steps_to_target_accuracy"].iloc[0] == 3
    assert out["examples_to_target_accuracy"].iloc[0] == 25  # a partial last batch: 10+10+5
    assert np.isnan(out["steps_to_target_accuracy"].iloc[1])  # diverged
    assert out["steps_to_target_loss"].isna().all()  # loss never fell to 0.1
    with pytest.raises(ValueError, match="lacks columns"):
        ts.curves_from_evals(evals.drop(columns=["step"]), runs)


def test_the_faster_rate_is_chosen_at_every_batch_size(tables):
    result = _analyze(tables)
    front = result["frontier"]
    assert sorted(front["batch_size"]) == SIZES
    assert (front[tuning.LR_COLUMN] == 0.01).all()
    grid = result["grid"]
    assert set(grid["target"]) == set(ts.TARGET_METRICS)
    assert grid.groupby(["target", "batch_size"])["chosen"].sum().eq(1).all()
    assert set(result["bcrit"]["lr_choice"]) == set(tf.LR_CHOICES)
    assert (result["bcrit"]["reference_lr"] == 0.001).all()


def test_test_accuracy_of_the_frontier_is_the_chosen_cells(tables):
    result = _analyze(tables)
    runs = tables["runs"]
    for _, f in result["frontier"].iterrows():
        cell = runs[(runs["batch_size"] == f["batch_size"]) & (runs["base_lr"] == f["base_lr"])]
        assert f["test_accuracy_mean"] == pytest.approx(cell["final_test_accuracy"].mean())


def test_document_has_every_part_and_no_raw_nan_or_inf(tables):
    doc = _analyze(tables, absolute={"blobs": {"val_accuracy": 0.7, "val_loss": 0.5}})["doc"]
    text = json.dumps(doc)
    assert not re.search(r"\b(nan|inf|infinity|null)\b", text, re.IGNORECASE), text
    (g,) = doc["groups"]
    assert g["reference_lr"] == "0.001" and g["rates"] == ["0.001", "0.01"]
    assert "absolute target" in g["target"] and "epoch resolution" in doc["resolution"]
    fates = {c["fate"].split(" (holds for")[0].split(":")[0] for c in g["claims"]}
    assert len(g["claims"]) == 5 and fates <= {
        tf.FATE_SURVIVES,
        tf.FATE_FAILS,
        tf.FATE_NOT_SHOWN,
        tf.FATE_ONE_TIMING,
        "unchanged",
        "changed",
    }
    assert len(g["claims_header"]) == 5 and "validation accuracy ≥ 0.700" in g["claims_header"][1]
    assert "Both verdict columns judge claim 4 on the same target" in g["claims_target"]
    assert "hold each batch size's chosen rate fixed" in g["claims_selection"]
    assert len(g["frontier_rows"]) == len(SIZES)
    n = int(tables["runs"]["n_train"].iloc[0])
    assert g["frontier_header"][3] == f"median examples seen to target (epochs × {n} training rows)"


def test_groups_with_one_rate_are_not_tuned(tables):
    one = {n: t[t["base_lr"] == 0.001] if "base_lr" in t else t for n, t in tables.items()}
    result = _analyze(one)
    assert result["doc"]["groups"] == [] and result["grid"].empty


def test_large_vs_best_picks_the_best_on_validation_and_compares_test():
    rows = []
    for s in range(5):
        rows.append(
            {
                "seed": s,
                "batch_size": 8,
                "final_val_accuracy": 0.9,
                "final_test_accuracy": 0.80 + 0.001 * s,
            }
        )
        rows.append(
            {
                "seed": s,
                "batch_size": 64,
                "final_val_accuracy": 0.8,
                "final_test_accuracy": 0.70 + 0.002 * s,
            }
        )
    found = ts.large_vs_best(pd.DataFrame(rows), SETTINGS)
    assert (found["best"], found["largest"]) == (8, 64)
    assert found["effect"]["estimate"] == pytest.approx(-0.1 + 0.001 * 2)
    assert found["effect"]["verdict"] == "different"


def test_b_crit_moves_only_when_the_intervals_are_disjoint():
    fit = {"ok": True, "b_crit": 10.0, "lo": 8.0, "hi": 12.0, tf.SPACING_LO: 9.0}
    fit |= {tf.SPACING_HI: 11.0}
    up = {"tuned": fit | {"b_crit": 40.0, "lo": 30.0, "hi": 50.0, tf.SPACING_LO: 35.0}}
    assert "moved up" in tf.moved_text(up | {"reference": fit})
    overlap = {"tuned": fit | {"b_crit": 11.0, "lo": 9.0, "hi": 14.0}, "reference": fit}
    assert "overlap" in tf.moved_text(overlap)
    failed = {"tuned": {"ok": False}, "reference": fit}
    assert "tuned fit failed" in tf.moved_text(failed)
    unknown = up | {"reference": fit | {tf.SPACING_HI: np.nan}}
    text = tf.moved_text(unknown)
    assert "no move is shown once the evaluation spacing is counted (the union of" in text
    assert "reference rate unknown (no range over the crossings' placements)" in text
    assert "these overlap" not in text
    # move_kind says in one word what moved_text says: the catalogue's tuning line counts it
    down = {"tuned": fit, "reference": up["tuned"]}
    below = {"tuned": fit | {"below_range": True}, "reference": fit}
    cases = [(up | {"reference": fit}, "up"), (down, "down"), (overlap, "none")]
    cases += [(unknown, "none"), (failed, "unknown"), (below, "unknown")]
    for fits, kind in cases:
        assert tf.move_kind(fits) == kind
        text = tf.moved_text(fits)
        assert text.startswith(f"B_crit moved {kind} ") == (kind in ("up", "down")), text
        assert text.startswith("Whether B_crit moved is not known") == (kind == "unknown"), text
    groups = [
        {"label": "a", "move": tf.move_kind(up | {"reference": fit})},
        {"label": "b", "move": "none"},
        {"label": "c", "move": "up"},
    ]
    assert tf.tuning_headline(groups) == (
        "The learning rate tuned per batch size in 3 groups (the report's tuning section): "
        "B_crit moved up with tuning in 2 (a; c), no move shown in 1 (b)."
    )
    assert tf.tuning_headline([]) == ""
    groups[2]["move_poor"] = True  # as moved_text: a move between poor fits is indicative only
    assert tf.tuning_headline(groups).endswith(
        "no move shown in 1 (b). A poor fit makes the move indicative only in c."
    )
    poor_up = up | {"reference": fit | {"rel_rmse": 0.2}}
    assert "indicative only" in tf.moved_text(poor_up) and tf.move_kind(poor_up) == "up"


#: Batch sizes and epoch-resolution spacing (400 training rows) of the hand-made frontiers.
_B = np.array([4, 8, 16, 32, 64, 128, 256, 512])
_EPOCH = np.ceil(400 / _B)


def _made(steps: np.ndarray, spacing: np.ndarray, lo: float, hi: float) -> dict:
    """A fit of hand-made median steps as `tf.with_resolution` gives it, with a given
    interval (the bootstrap's, which the evaluation spacing does not move)."""
    cells = pd.DataFrame(
        {
            "batch_size": _B,
            "median_steps": steps,
            "eval_spacing": spacing,
            "n_reached": 10,
            "n_runs": 10,
        }
    )
    fit = scaling.fit_critical_batch(_B, steps) | {"lo": lo, "hi": hi}
    return tf.with_resolution(fit, cells, "at this rate")


def test_a_move_of_b_crit_must_survive_the_evaluation_spacing():
    """The tuned frontier crosses the target within the first evaluations at small B (S = 23 +
    520/B: 153 steps at B = 4, evaluations 100 steps apart); placing each crossing at either
    end of its evaluation interval puts its B_crit anywhere in 4.03–27.1, down into the
    reference fit's interval: the disjoint intervals show no move. Evaluated every step, the
    same medians keep their B_crit and the move survives."""
    tuned, ref = 23 + 520 / _B, 340 + 1420 / _B
    reference = _made(ref, _EPOCH, 3.03, 5.74)
    coarse = _made(tuned, _EPOCH, 12.2, 35.4)
    assert coarse["b_crit"] == pytest.approx(22.6, abs=0.1)
    assert tf.resolution_range(coarse) == pytest.approx((4.03, 27.08), abs=0.01)
    assert tf.widened_range(coarse) == pytest.approx((coarse[tf.SPACING_LO], 35.4))
    assert tf.resolved_move(coarse, reference) == ""
    text = tf.moved_text({"tuned": coarse, "reference": reference})
    assert text.startswith("B_crit went from 4.18 to 22.6; the intervals do not overlap, but no")
    assert "reference rate 2.91–5.74, speed-chosen rates 4.03–35.4; these overlap" in text
    assert (
        "(4.03–27.1 over every placement of the crossings within their evaluation intervals; "
        "95.0%" in tf.bcrit_text(_fit() | coarse)
    )
    fine = _made(tuned, np.ones(_B.size), 12.2, 35.4)
    assert tf.resolved_move(fine, reference) == "up"
    assert tf.resolved_move(reference, fine) == "down"
    assert tf.moved_text({"tuned": fine, "reference": reference}).startswith(
        "B_crit moved up with tuning, from 4.18 to 22.6 (the intervals do not overlap, nor do "
        "the unions of each bootstrap interval and its range over every placement of the "
        "crossings within their evaluation intervals, a heuristic, not a joint interval: "
        "reference rate 2.91–5.74, speed-chosen rates 12.2–35.4)."
    )


def test_a_tuning_fit_whose_interval_leaves_its_batch_sizes_says_so():
    """As in the condition sections (`findings.extrapolation_clauses`): the reference-rate
    fit's interval reaching below the smallest fitted B is flagged, one inside is not."""
    ref = 340 + 1420 / _B
    low = _made(ref, _EPOCH, 3.03, 5.74)
    assert low["fitted_sizes"] == list(_B) and low["extrapolated_low"]
    assert not low["extrapolated_high"]
    text = tf.bcrit_text(_fit() | low)
    assert text.endswith(
        "relative RMSE of the fitted steps 0.0%; the interval reaches below the smallest fitted "
        "B = 4: extrapolation)"
    ), text
    inside = _made(23 + 520 / _B, _EPOCH, 12.2, 35.4)
    assert "extrapolation" not in tf.bcrit_text(_fit() | inside)
    assert "extrapolation" not in tf.bcrit_text(_fit())  # a fit without its batch sizes


def test_a_fit_names_the_batch_sizes_it_leaves_out_and_why():
    cells = pd.DataFrame(
        {
            "batch_size": [4, 8, 16, 32],
            "median_steps": [500.0, 300.0, np.inf, np.inf],
            "n_reached": [10, 10, 3, 0],
            "n_runs": [10, 10, 10, 10],
        }
    )
    assert tf.left_out_text(cells, "at this rate") == (
        "fitted on 2 batch sizes, B ∈ {4, 8}; B = 32 left out: no run reached the target "
        "within the budget at this rate; B = 16 left out: half or more of the runs did not "
        "reach the target within the budget at this rate"
    )
    assert tf.left_out_text(cells.iloc[:2], "at this rate") == ""
    text = tf.bcrit_text(_fit(left_out=tf.left_out_text(cells, "at this rate")))
    assert "resamples fit, fitted on 2 batch sizes, B ∈ {4, 8}; B = 32 left out" in text
    assert "8 batch sizes" in tf.bcrit_text(_fit())


def test_noise_spec_is_the_reference_rate_first_seed_and_configured_batch_size():
    cfg = config.validate(
        {
            "optimizers": {
                "sgd": {"name": "sgd", "learning_rate": [0.3, 0.01, 0.1], "momentum": 0.9}
            },
            "noise_scale": {"batch_size": 16, "every": 5},
            "seeds": [3, 4],
        }
    )
    spec = config.noise_spec(cfg, "blobs", "sgd")
    assert spec.batch_size == 16 and spec.seeds == (3,)
    assert [v.base_lr for v in spec.variants] == [0.1]


def test_target_must_be_a_valid_accuracy_and_loss():
    bad = {"datasets": {"b": {"kind": "blobs", "target": {"val_accuracy": 1.5, "val_loss": 0.3}}}}
    with pytest.raises(config.ConfigError):
        config.validate(bad)
    ok = {"datasets": {"b": {"kind": "blobs", "target": {"val_accuracy": 0.8, "val_loss": 0.3}}}}
    assert config.validate(ok)["datasets"]["b"]["target"]["val_accuracy"] == 0.8
    assert config.validate({})["noise_scale"]["batch_size"] is None


def test_a_claim_survives_only_when_supported_both_times():
    def v(verdict):
        at = [8] if verdict == claims.PARTLY else None
        return claims.Verdict("c", "s", verdict, "e", holds_for=at)

    ref = [claims.SUPPORTED] * 4 + [claims.INCONCLUSIVE, claims.NOT_SUPPORTED]
    ref += [claims.NOT_SUPPORTED, claims.INCONCLUSIVE]
    tuned = [claims.SUPPORTED, claims.NOT_SUPPORTED, claims.INCONCLUSIVE, claims.PARTLY]
    tuned += [claims.INCONCLUSIVE, claims.SUPPORTED, claims.INCONCLUSIVE, claims.NOT_SUPPORTED]
    rows = tf.claims_change([v(r) for r in ref], [v(t) for t in tuned])
    assert [r["fate"] for r in rows] == [
        "survives at the speed-chosen rates",
        "does not survive at the speed-chosen rates",
        "not shown at the speed-chosen rates",
        "not shown at the speed-chosen rates (holds for none at the reference rate, for B = 8 "
        "at the speed-chosen rates)",
        "unchanged",
        "changed: not supported → supported",
        "the refutation is not shown at the speed-chosen rates",
        "changed: inconclusive → not supported",
    ]
    assert not any(r["rate_independent"] for r in rows)


def test_claim_1_on_one_timing_stage_is_printed_once_without_a_fate():
    """Seconds per epoch do not depend on the rate: with the timing stage both columns judge
    claim 1 on the same repeats, so it reads once, rate-independent; without it (each rate's
    own training clocks) it keeps both columns and a fate."""
    one = claims.Verdict(claims.CLAIM_TIME_PER_EPOCH, "s", claims.SUPPORTED, "repeats")
    (row,) = tf.claims_change([one], [one], timed=True)
    assert row["rate_independent"] and row["fate"] == "— (one timing stage)"
    assert row["evidence"] == (
        "The timing stage's evidence, the same at both choices of rate: repeats"
    )
    assert row["summary"] == "supported, rate-independent (one timing stage)"
    (row,) = tf.claims_change([one], [one], timed=False)
    assert not row["rate_independent"] and row["fate"] == tf.FATE_SURVIVES
    assert row["evidence"] == "repeats"
    other = claims.Verdict(claims.CLAIM_SETTLING, "s", claims.SUPPORTED, "e")
    assert not tf.claims_change([other], [other], timed=True)[0]["rate_independent"]


def test_the_claims_table_names_the_target_of_each_column():
    t = pd.Series({"target_accuracy": 0.8, "target_kind": ts.ABSOLUTE})
    header = tf.claims_header(t, "0.001")
    assert header[1] == (
        "reference rate 0.001 (claim 4 to validation accuracy ≥ 0.800, the config's absolute "
        "target)"
    )
    assert (
        header[2] == "speed-chosen rates (claim 4 to validation accuracy ≥ 0.800, the same target)"
    )
    assert header[4] == "evidence (at the speed-chosen rates unless the row says otherwise)"
    assert "condition at base lr 0.001 races its claim 4 to a fraction" in tf.claims_target_text(
        t, "0.001"
    )


def test_unchanged_needs_the_same_verdict_and_the_same_batch_sizes():
    def v(at):
        return claims.Verdict("c", "s", claims.INCONCLUSIVE, "e", holds_for=at)

    assert tf.claims_change([v([8])], [v([8])])[0]["fate"] == "unchanged"
    (row,) = tf.claims_change([v([8])], [v([64, 128])])
    assert row["fate"] == (
        "changed (holds for B = 8 at the reference rate, for B ∈ {64, 128} at the speed-chosen "
        "rates)"
    )


def test_a_configured_reference_rate_must_be_in_the_grid():
    opt = {"name": "adam", "learning_rate": [0.001, 0.01, 0.1], "reference_lr": 0.001}
    cfg = config.validate({"optimizers": {"adam": opt}})
    assert config.optimizer_reference(cfg, "adam") == 0.001
    with pytest.raises(config.ConfigError, match="reference_lr"):
        config.validate({"optimizers": {"adam": opt | {"reference_lr": 0.002}}})


def test_a_dataset_validated_on_its_test_split_is_called_optimistic(tables):
    (own,) = _analyze(tables)["doc"]["groups"]
    (shared,) = _analyze(tables, shared=("blobs",))["doc"]["groups"]
    assert "only reports" in own["split"] and "optimistic" in shared["split"]


def _front(**cols):
    """A one-group frontier of two batch sizes with the given columns (lists of two)."""
    base = {
        "batch_size": [4, 512],
        "base_lr": [0.1, 0.01],
        "median_steps": [150.0, 23.5],
        "budget_steps": [10000.0, 100.0],
        "val_accuracy_mean": [0.85, 0.86],
        "best_val_accuracy": [0.86, 0.86],
        "best_val_lr": [0.001, 0.01],
    }
    return pd.DataFrame(base | cols)


def test_criterion_lists_the_chosen_rates_ending_below_the_target():
    text = tf.criterion_text(_front(val_accuracy_mean=[0.71, 0.86]), 0.8)
    assert "not for the final accuracy" in text
    assert "at B = 4 the chosen rate 0.1 ends at 0.710" in text
    assert "(its median steps to target 150; the best mean any rate ended at there: 0.860, " in text
    assert "lr 0.001)" in text
    assert "B = 512" not in text
    fine = tf.criterion_text(_front(), 0.8)
    assert "below the target" not in fine and "at or above the target 0.800" in fine


def test_best_final_val_is_the_highest_mean_over_rates_ties_to_the_smaller():
    keys = {"dataset": "d", "optimizer": "o", "lr_scaling": "constant", "budget": "e2"}
    rows = [
        keys | {"batch_size": 8, "base_lr": lr, "seed": s, "final_val_accuracy": acc + 0.01 * s}
        for lr, acc in ((0.1, 0.5), (0.01, 0.7), (0.001, 0.7))
        for s in (0, 1)
    ]
    (best,) = ts.best_final_val(pd.DataFrame(rows)).to_dict("records")
    assert best["best_val_accuracy"] == pytest.approx(0.705) and best["best_val_lr"] == 0.001


def test_a_chosen_rate_at_the_grid_edge_is_flagged():
    text = tf.edge_text(_front(), [0.001, 0.01, 0.1])
    assert text == (
        "The chosen rate is the grid's largest (0.1) at B = 4: "
        "there the optimum may lie outside the grid."
    )
    both = tf.edge_text(_front(base_lr=[0.1, 0.001]), [0.001, 0.01, 0.1])
    assert "smallest (0.001) at B = 512 and the grid's largest (0.1) at B = 4" in both
    assert tf.edge_text(_front(base_lr=[0.01, 0.01]), [0.001, 0.01, 0.1]) == ""
    never = _front(median_steps=[np.inf, 23.5])  # the tie rule's choice, not an optimum
    assert tf.edge_text(never, [0.001, 0.01, 0.1]) == ""
    # B = 512 chose 0.01, but the largest rate 0.1 reached the target as fast: a tie at the edge
    grid = pd.DataFrame(
        {
            "batch_size": [512, 512, 512],
            "base_lr": [0.001, 0.01, 0.1],
            "median_steps": [40, 23.5, 23.5],
        }
    )
    tied = tf.edge_text(_front(), [0.001, 0.01, 0.1], grid)
    assert tied == (
        "The chosen rate is the grid's largest (0.1) at B = 4; the grid's largest (0.1) ties it "
        "at B = 512: there the optimum may lie outside the grid."
    )
    only = tf.edge_text(_front(base_lr=[0.01, 0.01]), [0.001, 0.01, 0.1], grid)
    assert only == (
        "The grid's largest (0.1) ties the chosen rate at B = 512: there the optimum may lie "
        "outside the grid."
    )


def test_evaluation_grid_and_the_coarsely_resolved_batch_sizes():
    keys = {"dataset": "d", "optimizer": "o", "lr_scaling": "constant", "budget": "e5"}
    curves = pd.DataFrame(
        [keys | {"batch_size": b, "step": e * n} for b, n in ((4, 100), (512, 1)) for e in range(6)]
    )
    ev = ts.evaluation_grid(curves)
    assert ev["eval_spacing"].tolist() == [100.0, 1.0]
    assert ev["kth_eval_step"].tolist() == [300.0, 3.0]  # step 0 is not an evaluation
    front = _front(median_steps=[250.0, 23.5]).assign(
        eval_spacing=ev["eval_spacing"], kth_eval_step=ev["kth_eval_step"]
    )
    text = tf.evaluation_text(front, ts.RESOLUTION_EPOCHS, 400)
    assert "ceil(training rows / B) optimizer steps, with 400 training rows" in text
    assert "n_train" not in text
    assert "B = 4: 100, B = 512: 1" in text
    assert "At the speed-chosen rates the median steps to target lies within the first 3 " in text
    assert "evaluations at B = 4:" in text
    later = tf.evaluation_text(front.assign(median_steps=[400.0, 23.5]), ts.RESOLUTION_EPOCHS, 400)
    assert "within the first" not in later
    caveat = tf.resolution_caveat(front)
    assert caveat.startswith(
        "At the speed-chosen rates, steps to target at B = 4 lie within the first 3 evaluations"
    )
    assert "the tuned B_crit's interval does not include that uncertainty, its range over " in (
        caveat
    )
    assert tf.resolution_caveat(front.assign(median_steps=[400.0, 23.5])) == ""


def test_regimes_are_defined_by_the_tuned_fit():
    text = tf.regime_text({"ok": True, "b_crit": 20.0})
    assert "0.25 × B_crit" in text and "(here B < 5, B > 80, with the tuned B_crit 20)" in text
    assert "unknown" in tf.regime_text({"ok": False})
    assert "not resolved" not in text  # a fit without its placement range marks nothing
    # B_crit 20 [12, 35], placements 9-24, so anywhere in 9-35: B = 2 is perfect scaling
    # throughout (B < B_crit / 4), B = 8 only above 32; B = 64 has no further gain only below
    # 16 (B > 4 B_crit); B = 16 has diminishing returns throughout
    fit = _fit(b_crit=20.0, lo=12.0, hi=35.0) | {tf.SPACING_LO: 9.0, tf.SPACING_HI: 24.0}
    assert "the table says it is not resolved" in tf.regime_text(fit)
    cells = {b: tf.regime_cell(b, scaling.scaling_regime(b, 20.0), fit) for b in (2, 8, 16, 64)}
    assert cells == {
        2: "perfect scaling",
        8: "diminishing returns (not resolved: perfect scaling to diminishing returns within "
        "B_crit's range)",
        16: "diminishing returns",
        64: "diminishing returns (not resolved: diminishing returns to no further gain within "
        "B_crit's range)",
    }
    assert tf.regime_cell(8, "diminishing returns", {"ok": False}) == "diminishing returns"


def test_ties_with_the_chosen_cell_are_named():
    grid = pd.DataFrame(
        {
            "batch_size": [4, 4, 8, 8],
            "median_steps": [100.0, 100.0, 50.0, 60.0],
            "chosen": [True, False, True, False],
        }
    )
    assert tf.tie_text(grid).startswith("At B = 4 another rate has the same median steps")
    assert tf.tie_text(grid.iloc[2:]) == ""


def _fit(**kw):
    base = {"ok": True, "b_crit": 22.5, "lo": 12.2, "hi": 35.4, "level": 0.95, "n_seeds": 10}
    more = {"n_boot": 2000, "n_boot_ok": 2000, "n_points": 8, "rel_rmse": 0.051}
    spacing = {tf.SPACING_LO: 0.72 * kw.get("b_crit", 22.5), tf.SPACING_HI: kw.get("b_crit", 22.5)}
    return base | more | spacing | kw


def test_every_tuning_interval_names_its_level():
    assert (
        "[12.2, 35.4] (16.2–22.5 over every placement of the crossings within their evaluation "
        "intervals; 95.0% percentile bootstrap "
        "over 10 seeds"
    ) in tf.bcrit_text(_fit())
    assert "; 90.0% percentile bootstrap" in tf.bcrit_text(_fit(level=0.9))
    eff = stats.Effect(-0.061, -0.126, 0.005, 10, "paired t-interval over seeds", 0.95)
    found = {"best": 64, "largest": 512, "effect": eff.to_dict() | {"verdict": "inconclusive"}}
    text = tf.large_batch_text(found, "At the speed-tuned rates")
    assert "(95.0% paired t-interval, n = 10): inconclusive against ±0.01" in text


def test_a_difference_beyond_the_margin_reads_beyond_it_not_within():
    eff = stats.Effect(-0.181, -0.242, -0.121, 10, "paired t-interval over seeds", 0.95)
    found = {"best": 32, "largest": 512, "effect": eff.to_dict() | {"verdict": "different"}}
    text = tf.large_batch_text(found, "At the reference rate 0.001")
    assert "different beyond ±0.01" in text and "different within" not in text
    found["effect"]["verdict"] = "equivalent"
    assert "equivalent within ±0.01" in tf.large_batch_text(found, "At the tuned rates")


def test_speed_chosen_wording():
    eff = stats.Effect(-0.061, -0.126, 0.005, 10, "paired t-interval over seeds", 0.95)
    found = {"best": 64, "largest": 512, "effect": eff.to_dict() | {"verdict": "inconclusive"}}
    text = tf.large_batch_text(found, "At the speed-chosen rates")
    assert "(95.0% paired t-interval, n = 10): inconclusive against ±0.01" in text
    different = found | {"effect": found["effect"] | {"verdict": "different"}}
    assert "different beyond ±0.01 (one comparison" in tf.large_batch_text(different, "At")


def test_b_crit_prints_its_fit_quality_and_why_it_differs_from_the_condition_sections():
    assert "relative RMSE of the fitted steps 5.1%)" in tf.bcrit_text(_fit())
    target = {"target_accuracy": 0.8, "target_loss": 0.5}
    absolute = tf.bcrit_target_text(pd.Series(target | {"target_kind": ts.ABSOLUTE}), "0.001")
    assert "absolute target (validation accuracy 0.800; its loss target 0.5" in absolute
    assert "condition at base lr 0.001" in absolute
    relative = tf.bcrit_target_text(pd.Series(target | {"target_kind": ts.RELATIVE}), "0.001")
    assert "absolute" not in relative and "own best mean plateau" in relative


def test_b_simple_is_compared_with_the_tuned_b_crit_near_the_target():
    noise = pd.DataFrame({"step": [0, 50, 100, 150], "b_simple": [3.0, 90.0, 200.0, 400.0]})
    at = tf.noise_at_target(noise, 60.0)
    assert (at["step"], at["b_simple"], at["n_after"]) == (50, 90.0, 2)
    n = {"median": 145.0, "batch_size": 32, "n_checkpoints": 4, "n_seeds": 1}
    text = tf.noise_vs_bcrit_text(n, at, _fit(b_crit=10.0), "0.001")
    assert text.startswith("The run's median B_simple is 14.5× the tuned B_crit. The median")
    assert tf.noise_vs_bcrit_text(n, at, {"ok": False}, "0.001").startswith("Without a tuned")
    assert "over seeds is 60; at the checkpoint nearest it (step 50) B_simple is 90, 9.00×" in text
    assert "2 of the 4 checkpoints lie after" in text
    assert tf.noise_at_target(noise, np.inf) == {}
    never = tf.noise_vs_bcrit_text(n, {}, _fit(b_crit=10.0), "0.001")
    assert "did not reach the target" in never and "checkpoint nearest" not in never


def test_a_group_target_at_chance_gets_no_bcrit_and_one_near_chance_is_flagged(tables):
    """Judged against the dataset's chance accuracy: at or below it no B_crit is fitted, just
    above it (less than a quarter of the way to 1) the B_crit is flagged."""
    target = {"blobs": {"val_accuracy": 0.5, "val_loss": 0.5}}
    at = _analyze(tables, absolute=target, chance={"blobs": {"accuracy": 0.5}})
    (g,) = at["doc"]["groups"]
    assert "The target is at or below chance accuracy 0.500" in g["target"]
    assert g["bcrit"]["tuned"] == f"not estimated ({tf.AT_CHANCE_REASON})"
    assert not at["bcrit"]["ok"].any()
    near = _analyze(tables, absolute=target, chance={"blobs": {"accuracy": 0.4}})
    (g,) = near["doc"]["groups"]
    assert "asks for only 16.7% of the way from chance accuracy 0.400" in g["target"]
    assert (
        "its target is near chance (see the group's target); indicative only"
        in (g["bcrit"]["tuned"])
    )
    clear = _analyze(tables, absolute=target, chance={"blobs": {"accuracy": 0.1}})
    assert "chance" not in clear["doc"]["groups"][0]["target"]


def test_the_findings_say_which_target_the_group_bcrit_races_to():
    t = pd.Series({"target_accuracy": 0.8, "target_loss": 0.5, "target_kind": ts.ABSOLUTE})
    text = tf.findings_target_text(t, 0.95)
    assert text.startswith("Both B_crit values are fitted to the steps to validation accuracy ≥")
    assert "≥ 0.800 (" in text
    assert "the config's absolute target" in text and "own best plateau" in text
    rel = tf.findings_target_text(pd.Series(t.to_dict() | {"target_kind": ts.RELATIVE}), 0.95)
    assert "0.95 × the best mean plateau over all the group's" in rel


def test_the_evaluation_spacing_is_given_per_dataset():
    """Two datasets' evaluation grids are never pooled into one range."""
    rows = []
    for dataset, per_epoch in (("blobs", {4: 100, 512: 1}), ("digits", {4: 180, 512: 2})):
        for b, k in per_epoch.items():
            rows += [{"dataset": dataset, "batch_size": b, "step": e * k} for e in range(1, 4)]
    text = tf.resolution_text(ts.RESOLUTION_EPOCHS, pd.DataFrame(rows), pd.DataFrame())
    assert "blobs: 1 to 100; digits: 2 to 180" in text
    assert "1 to 180" not in text


def test_near_ties_within_one_evaluation_interval_are_named():
    grid = pd.DataFrame(
        {
            "batch_size": [32, 32, 32, 64, 64, 128, 128, 256, 256],
            "base_lr": [0.01, 0.1, 1.0, 0.01, 0.1, 0.01, 0.1, 0.01, 0.1],
            "median_steps": [45.5, 39.0, np.inf, 40.0, 30.0, 20.0, 20.0, 28.5, 31.5],
            "chosen": [False, True, False, False, True, True, False, True, False],
        }
    )
    spacing = {32: 13.0, 64: 7.0, 128: 4.0, 256: 3.0}
    near, exactly_one = tf.near_ties(grid, spacing)
    # 28.5 against 31.5, evaluations 3 steps apart: exactly one interval is a near-tie
    assert (exactly_one["batch_size"], exactly_one["runner_steps"]) == (256, 31.5)
    assert near == {
        "batch_size": 32,
        "lr": 0.1,
        "steps": 39.0,
        "runner_lr": 0.01,
        "runner_steps": 45.5,
        "spacing": 13.0,
    }
    text = tf.tie_text(grid, spacing)
    assert text.startswith("At B = 128 another rate has the same median steps")
    assert "At B = 32 (0.1: 39 steps, runner-up 0.01: 45.5; evaluations 13 steps apart) and " in (
        text
    )
    assert "runner-up's by at most one evaluation interval" in text
    assert "B = 64" not in text
    assert tf.tie_text(grid) == tf.tie_text(grid, {})


def test_the_claims_scope_says_no_rate_was_chosen_for_accuracy(tables):
    (g,) = _analyze(tables)["doc"]["groups"]
    assert g["claims_scope"] == tf.CLAIMS_SCOPE
    assert "does not compare batch sizes at rates chosen for accuracy" in tf.CLAIMS_SCOPE


def test_a_poor_tuned_fit_is_flagged_as_in_the_condition_sections():
    """The same RMSE limit as the condition sections' B_crit: the text and any move say so."""
    assert "the fit is poor" not in tf.bcrit_text(_fit())
    poor = _fit(rel_rmse=0.363)
    assert tf.poor_fit(poor) and not tf.poor_fit(_fit()) and not tf.poor_fit({"ok": False})
    assert (
        "relative RMSE of the fitted steps 36.3%; the fit is poor: its interval covers the "
        "seeds' noise, not the curve's misfit; indicative only)" in tf.bcrit_text(poor)
    )
    near = tf.bcrit_text(_fit(standing=scaling.STANDING_NEAR_CHANCE))
    assert near.endswith("; its target is near chance (see the group's target); indicative only)")
    tuned = _fit(b_crit=118.0, lo=100.0, hi=159.0, **{tf.SPACING_LO: 81.02})
    up = {"tuned": tuned, "reference": poor}
    assert tf.moved_text(up).endswith(
        "speed-chosen rates 81.0–159). The reference-rate fit is poor (relative RMSE above "
        "10%), so the move is indicative only."
    )
    fine = _fit(b_crit=19.4, lo=14.5, hi=26.2, **{tf.SPACING_LO: 11.4})
    assert "poor" not in tf.moved_text(up | {"reference": fine})


def test_the_noise_scale_is_set_beside_the_theory_without_a_verdict():
    """One seed, one run, a median over checkpoints before and after the target: the text
    states how far the median is from the tuned B_crit, never that it confirms or refutes."""
    plain = tf.theory_text(2.34)
    assert plain.startswith(" For plain SGD the theory expects B_crit ≈ B_noise")
    assert (
        "On this one seed the run's median B_simple is within an order of magnitude of the "
        "tuned B_crit" in plain
    )
    assert "neither confirms nor refutes the theory" in plain
    far = tf.theory_text(104.0)
    assert "median B_simple is more than an order of magnitude above the tuned B_crit" in far
    for text in (plain, far, tf.theory_text(7.52, "adam")):
        assert "as the theory expects" not in text and "does not predict" not in text
    assert "order of magnitude below the tuned" in tf.theory_text(0.05)
    assert tf.theory_text(float("nan")) == ""
    heavy = tf.theory_text(2.34, "sgd", 0.9)
    assert "This optimizer is SGD with momentum 0.9, not the plain SGD of the theory" in heavy
    assert "only a heuristic" in tf.theory_text(7.52, "adam")
    poor = tf.theory_text(14.4, "sgd", 0.9, poor=True)
    assert poor.endswith(
        "The tuned fit is poor (relative RMSE above 10%), so this comparison is indicative only."
    )


def test_the_noise_paragraph_says_what_the_run_is_and_judges_on_its_median_not_one_checkpoint():
    """The blobs · sgd case: the run's median B_simple is 14.4× the tuned B_crit while the
    checkpoint near the target is 3.72×: the verdict follows the median, on one seed, with the
    tuned fit's poor-fit flag and momentum SGD named as not the theory's plain SGD."""
    noise = pd.DataFrame(
        {
            "step": [0, 50, 100, 150, 200],
            "b_simple": [3.35, 83.6, 324.0, 500.0, 625.0],
            "batch_size": 32,
            "learning_rate": 0.03162,
            "seed": 0,
        }
    )
    n = tf.noise_summary(noise)
    assert (n["n_seeds"], n["median"]) == (1, 324.0)
    fit = _fit(b_crit=22.5, rel_rmse=0.168)
    at = tf.noise_at_target(noise, 52.0)
    compare = tf.noise_vs_bcrit_text(n, at, fit, "0.03162", ("sgd", 0.9))
    text = tf.noise_text(n, fit, compare)
    assert text.startswith(
        "B_simple is measured along one reference run (B = 32, lr 0.03162, seed 0: one seed, so "
        "no interval; 5 checkpoints over 200 steps)"
    )
    assert "The run's median B_simple is 14.4× the tuned B_crit." in text
    assert "(step 50) B_simple is 83.6, 3.72× the tuned B_crit" in text
    assert "the run's median B_simple is more than an order of magnitude above" in text
    assert "within an order of magnitude" not in text and "as the theory expects" not in text
    assert "SGD with momentum 0.9, not the plain SGD of the theory" in text
    assert "The tuned fit is poor" in text
    # The run is named before any sentence uses it.
    assert text.index("one reference run") < text.index("The run's median")
    for kind, momentum in (("sgd", 0.0), ("adam", 0.0)):
        compare = tf.noise_vs_bcrit_text(n, at, _fit(b_crit=90.0), "0.001", (kind, momentum))
        text = tf.noise_text(n, _fit(b_crit=90.0), compare)
        assert "as the theory expects" not in text and "neither confirms nor refutes" in text


def _repeats(job: tuple[str, str, str], seconds: dict[int, float], n: int = 5) -> pd.DataFrame:
    """A timing stage's rows (aggregate ``timing_repeats.tsv``) of one job key."""
    from batchstudy.aggregate import TIMING_REPEATS_TABLE_COLUMNS

    rng = np.random.default_rng(0)
    rows = [
        dict(zip(("dataset", "optimizer", "budget"), job, strict=True))
        | {"batch_size": b, "repeat": r, "order": i + 1, "epochs": 5, "replicas": 1}
        | {"seconds_per_epoch": s * (1 + 0.02 * rng.standard_normal()), "seconds_per_step": s}
        for r in range(n)
        for i, (b, s) in enumerate(seconds.items())
    ]
    return pd.DataFrame(rows).loc[:, list(TIMING_REPEATS_TABLE_COLUMNS)]


def test_the_timing_stage_judges_claims_1_and_4_at_both_rates(tables):
    """With the timing stage's repeats of the group's job key, claims 1 and 4 are judged in
    wall time at the reference and the speed-chosen rates (no "set timing_repeats" advice);
    another job key's repeats leave them without a wall-time verdict."""
    curves = ts.curves_from_history(tables["history"], tables["runs"])

    def claims_with(repeats):
        doc = tf.analyze_tuning(
            tables["runs"],
            tables["summary"],
            curves,
            ts.RESOLUTION_EPOCHS,
            absolute={},
            fraction=0.95,
            noise={},
            settings=SETTINGS,
            repeats=repeats,
        )["doc"]
        (g,) = doc["groups"]
        return {c["number"]: c for c in g["claims"]}

    timed = claims_with(_repeats(("blobs", "adam", "e20"), {8: 1.0, 32: 0.3, 128: 0.1}))
    assert timed["1"]["reference"] == timed["1"]["tuned"] == claims.SUPPORTED
    assert "geometric mean over repeats" in timed["1"]["evidence"]
    for c in timed.values():
        assert claims.NO_REPEATS_REASON not in c["evidence"], c
    other = claims_with(_repeats(("digits", "adam", "e20"), {8: 1.0, 32: 0.3, 128: 0.1}))
    assert claims.NO_REPEATS_REASON in other["1"]["evidence"]
    assert claims.NO_REPEATS_REASON in other["4"]["evidence"]


def test_a_tuned_b_crit_below_the_tested_range_prints_no_estimate():
    """A fit that puts every fitted batch size in the no-further-gain regime gives no number,
    no move, no regime threshold and no comparison with B_simple."""
    below = _fit(b_crit=0.0601, lo=0.01, hi=1.48, below_range=True)
    text = tf.bcrit_text(below)
    assert text.startswith(scaling.BELOW_RANGE_WORDS) and "0.0601" not in text
    assert "Whether B_crit moved is not known: the tuned fit puts it below the fitted range" in (
        tf.moved_text({"tuned": below, "reference": _fit()})
    )
    regime = tf.regime_text(below)
    assert "0.0601" not in regime and f"reads '{scaling.REGIME_NO_GAIN}'" in regime
    n = {"median": 30.0, "batch_size": 8, "n_checkpoints": 5}
    assert "not compared" in tf.noise_vs_bcrit_text(n, {}, below, "0.01")
    assert "0.0601" not in tf.bcrit_text(_fit()) and "22.5" in tf.bcrit_text(_fit())


def test_the_examples_column_says_what_it_counts_and_differs_from_the_figures_b_times_steps():
    """At epoch resolution the table's examples are epochs × the training rows, which the
    header gives with N; the frontier figure plots B × steps and its caption says the two
    differ where B does not divide the training rows."""
    head = tf.frontier_header(ts.RESOLUTION_EPOCHS, 1437)
    assert head[3] == "median examples seen to target (epochs × 1437 training rows)"
    assert len(head) == len(tf.FRONTIER_HEADER) and head[:3] == tf.FRONTIER_HEADER[:3]
    steps = tf.frontier_header(ts.RESOLUTION_STEPS, 400)[3]
    assert "400 per full epoch" in steps and "partial last batch" in steps
    title = tf.FIGURE_TITLES["frontier"]
    assert "B × steps" in title and "above the table's examples seen" in title


def test_the_speed_chosen_intervals_say_they_hold_the_chosen_rate_fixed():
    """The tuned claims table's note: the choice's instability where B_crit's bootstrap redid
    it, claim 4's selection bias, and the smallest batch size's evaluation resolution only
    where its steps lie within the first evaluations."""
    frontier = pd.DataFrame(
        {"batch_size": [4, 8], "median_steps": [30.0, 400.0], "kth_eval_step": [39.0, 39.0]}
    )
    text = tf.selection_text({"ok": True, "lr_changed_share": 0.612}, 7, frontier)
    assert "not the choice, which was made on these same runs (redone in each of B_crit's " in text
    assert "differed at some batch size in 61.2% of them)" in text
    assert "picked from 7 rates for the fewest median steps to it on the same runs" in text
    assert "(B = 4) steps lie within its first 3 evaluations: claim 4's ratios against it" in text
    fine = frontier.assign(median_steps=[300.0, 400.0])
    plain = tf.selection_text({"ok": False}, 7, fine)
    assert "resamples" not in plain and "evaluation interval" not in plain
