"""The tuned learning-rate frontier on synthetic per-run tables with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batchstudy import scaling, tuning
from batchstudy.config import base_learning_rates

SIZES = (4, 8, 16, 32, 64, 128, 256, 512)
#: The rates a config range of 7 from 1e-4 to 1e-1 expands to (4 significant figures).
RATES = base_learning_rates({"min": 1e-4, "max": 1e-1, "num": 7})
SEEDS = tuple(range(10))
N_TRAIN = 500
BUDGET = 4000
S_MIN, E_MIN = 60.0, 2400.0  # B_crit = 40


def best_rate_index(batch_size: int) -> int:
    """The known optimum: rate index 1 at B = 4, rising by one every 2 doublings (sqrt rule)."""
    return 1 + SIZES.index(batch_size) // 2 if batch_size < 512 else 4


def make_runs(
    steps_of, sizes=SIZES, rates=RATES, seeds=SEEDS, budget=BUDGET, group=("blobs", "adam")
) -> pd.DataFrame:
    """A runs table: steps_of(batch_size, rate_index, seed) -> steps, NaN beyond the budget."""
    rows = []
    for b in sizes:
        spe = -(-N_TRAIN // b)
        for j, lr in enumerate(rates):
            for s in seeds:
                steps = float(steps_of(b, j, s))
                steps = steps if steps <= budget else np.nan
                rows.append(
                    {
                        "dataset": group[0],
                        "optimizer": group[1],
                        "lr_scaling": "constant",
                        "base_lr": lr,
                        "budget": "steps",
                        "batch_size": b,
                        "seed": s,
                        "n_epochs": -(-budget // spe),
                        "steps_per_epoch": spe,
                        "steps_to_target_95": steps,
                        "examples_to_target_95": steps * b,
                    }
                )
    return pd.DataFrame(rows)


def known_optimum(b: int, j: int, s: int, noise: float = 0.05, penalty: float = 0.6) -> float:
    """S_min + E_min/B at the best rate, times exp(penalty * distance^2), times seed noise."""
    rng = np.random.default_rng(1000 * b + 10 * j + s)
    dist = j - best_rate_index(b)
    return (S_MIN + E_MIN / b) * np.exp(penalty * dist**2 + rng.normal(0, noise))


def test_censored_median_is_inf_once_half_the_runs_are_censored():
    four = {0: 100, 1: 110, 2: 120, 3: 130, 4: 140, 5: 150}  # seeds 6..9 censored
    five = dict(four) | {5: np.inf}  # seeds 5..9 censored
    table = pd.concat(
        [
            make_runs(lambda b, j, s: four.get(s, np.inf), sizes=(8,), rates=(1e-3,)),
            make_runs(lambda b, j, s: five.get(s, np.inf), sizes=(16,), rates=(1e-3,)),
        ]
    )
    grid = tuning.lr_grid(table, "95")
    by_b = grid.set_index("batch_size")
    # 4 of 10 censored: sorted values 100..150, inf x4: median = (140 + 150) / 2
    assert by_b.loc[8, "median_steps"] == 145.0
    assert by_b.loc[8, "median_examples"] == 145.0 * 8
    assert (by_b.loc[8, "n_reached"], by_b.loc[8, "n_runs"]) == (6, 10)
    # 5 of 10 censored: "> budget", not the budget
    assert by_b.loc[16, "median_steps"] == np.inf
    assert by_b.loc[16, "n_reached"] == 5
    assert by_b.loc[16, "budget_steps"] == 4000
    assert tuning.steps_label(np.inf, 4000) == "> 4,000"
    assert tuning.steps_label(145.0, 4000) == "145"


def test_median_labels_keep_their_half_and_every_digit():
    assert tuning.steps_label(23.5, 100) == "23.5"  # not rounded half-to-even to 24
    assert tuning.steps_label(24.5, 100) == "24.5"
    assert tuning.steps_label(2154.0, 1e4) == "2,154"  # every digit, not 3 significant
    assert tuning.steps_label(7.0, 100) == "7"
    assert tuning.steps_label(np.nan, 100) == ""


def test_known_optimum_is_chosen_and_the_grid_is_complete():
    runs = make_runs(known_optimum)
    grid = tuning.lr_grid(runs, "95")
    assert len(grid) == len(SIZES) * len(RATES)
    assert list(grid.columns) == list(tuning.GRID_COLUMNS)
    assert (grid.groupby("batch_size")["chosen"].sum() == 1).all()
    front = tuning.tuned_frontier(grid)
    assert front["batch_size"].tolist() == list(SIZES)
    assert front["base_lr"].tolist() == [RATES[best_rate_index(b)] for b in SIZES]
    # without noise the frontier would be S_min + E_min/B; seed noise of 5% moves its median
    expected = S_MIN + E_MIN / front["batch_size"]
    assert np.allclose(front["median_steps"], expected, rtol=0.1)
    assert (front["n_reached"] == len(SEEDS)).all()


def test_ties_go_to_more_reached_runs_then_to_the_smaller_rate():
    median = np.array([[5.0, 5.0, 7.0], [5.0, 5.0, 5.0], [np.inf, np.inf, np.inf], [np.nan] * 3])
    reached = np.array([[6, 8, 9], [8, 8, 8], [0, 2, 0], [0, 0, 0]])
    assert tuning.select_lr(median, reached).tolist() == [1, 0, 1, -1]
    # a missing cell is never chosen, even when its neighbours are all censored
    assert tuning.select_lr(np.array([[np.nan, np.inf]]), np.array([[0, 0]])).tolist() == [1]


def test_select_lr_over_resamples_is_the_choice_in_each_resample():
    rng = np.random.default_rng(6)
    median = rng.choice([5.0, 6.0, np.inf, np.nan], size=(50, 4, 3))
    reached = rng.integers(0, 4, size=median.shape)

    def rule(med, hit):  # lowest median, then most runs reached, then the smallest rate
        present = [j for j in range(med.size) if not np.isnan(med[j])]
        return min(present, key=lambda j: (med[j], -hit[j], j)) if present else -1

    expected = [
        [rule(m, h) for m, h in zip(ms, hs, strict=True)]
        for ms, hs in zip(median, reached, strict=True)
    ]
    assert tuning.select_lr(median, reached).tolist() == expected


def test_a_batch_size_censored_at_every_rate_stays_on_the_frontier_as_inf():
    runs = make_runs(lambda b, j, s: 10 * BUDGET if b == 512 else known_optimum(b, j, s))
    front = tuning.tuned_frontier(tuning.lr_grid(runs, "95"))
    last = front.set_index("batch_size").loc[512]
    assert last["median_steps"] == np.inf and last["n_reached"] == 0
    assert last["base_lr"] == RATES[0]  # tie over all rates: the smallest
    fits = tuning.tuned_critical_batch(runs, "95", n_boot=50)
    assert fits.loc[0, "n_points"] == len(SIZES) - 1  # the censored size carries no point


def test_critical_batch_of_the_tuned_frontier_recovers_the_truth():
    runs = pd.concat([make_runs(known_optimum), make_runs(known_optimum, group=("d", "sgd"))])
    fits = tuning.tuned_critical_batch(runs, "95", n_boot=200, seed=1)
    assert list(fits.columns) == [*tuning.GROUP_KEYS, *tuning.FIT_COLUMNS]
    assert len(fits) == 2
    for _, fit in fits.iterrows():
        assert fit["ok"] and fit["n_seeds"] == len(SEEDS)
        assert fit["b_crit"] == pytest.approx(E_MIN / S_MIN, rel=0.25)
        assert fit["lo"] < fit["b_crit"] < fit["hi"] < 2 * fit["lo"]
        assert fit["share_ok"] == fit["n_boot_ok"] / 200 > 0.9
    regimes = tuning.add_regimes(tuning.tuned_frontier(tuning.lr_grid(runs, "95")), fits)
    first = regimes.loc[regimes["dataset"] == "blobs"].set_index("batch_size")["regime"]
    assert first[4] == scaling.REGIME_PERFECT and first[512] == scaling.REGIME_NO_GAIN


def _fixed_rate_bootstrap(runs: pd.DataFrame, n_boot: int, seed: int) -> dict:
    """scaling's bootstrap on the runs of the cells chosen once on all seeds."""
    front = tuning.tuned_frontier(tuning.lr_grid(runs, "95"))
    chosen = runs.merge(front[["batch_size", "base_lr"]], on=["batch_size", "base_lr"])
    return scaling.bootstrap_critical_batch(
        chosen, n_boot=n_boot, seed=seed, steps_col="steps_to_target_95"
    )


def test_bootstrap_reselects_the_rate_inside_every_resample():
    # A clear optimum: no resample changes the choice, so re-selecting gives exactly the CI
    # at the fixed chosen rates (the two bootstraps draw the same seeds).
    clear = make_runs(lambda b, j, s: known_optimum(b, j, s, penalty=3.0))
    tuned = tuning.tuned_critical_batch(clear, "95", n_boot=200, seed=3).iloc[0]
    fixed = _fixed_rate_bootstrap(clear, 200, 3)
    assert tuned["lr_changed_share"] == 0.0
    assert (tuned["lo"], tuned["hi"], tuned["b_crit"]) == (
        fixed["lo"],
        fixed["hi"],
        fixed["b_crit"],
    )

    # Two rates equally good at every batch size, seed noise 20%: which one wins depends on
    # the seeds drawn, so the choice changes between resamples and the CI is a different one.
    def flat(b: int, j: int, s: int) -> float:
        return known_optimum(b, 0 if j in (2, 3) else 9, s, noise=0.2, penalty=0.01)

    noisy = make_runs(flat)
    tuned = tuning.tuned_critical_batch(noisy, "95", n_boot=200, seed=3).iloc[0]
    fixed = _fixed_rate_bootstrap(noisy, 200, 3)
    assert tuned["b_crit"] == pytest.approx(fixed["b_crit"])  # same cells for the point
    assert tuned["lr_changed_share"] > 0.5
    assert (tuned["lo"], tuned["hi"]) != pytest.approx((fixed["lo"], fixed["hi"]), rel=1e-3)


def test_bad_tables_are_refused():
    runs = make_runs(known_optimum, sizes=(8,), rates=(1e-3,))
    with pytest.raises(ValueError, match="lacks columns"):
        tuning.lr_grid(runs.drop(columns="n_epochs"), "95")
    with pytest.raises(ValueError, match="several rows"):
        tuning.lr_grid(pd.concat([runs, runs.iloc[:1]]), "95")


def test_figures_are_png_files(tmp_path):
    from batchstudy import tuning_plots

    runs = make_runs(lambda b, j, s: 10 * BUDGET if b == 512 else known_optimum(b, j, s))
    grid = tuning.lr_grid(runs, "95")
    fit = tuning.tuned_critical_batch(runs, "95", n_boot=20).iloc[0].to_dict()
    noise = pd.DataFrame({"step": [0, 10, 20], "b_simple": [2.0, 5.0, np.inf]})
    paths = [
        tuning_plots.plot_lr_grid(grid, tmp_path / "lr_grid.png"),
        tuning_plots.plot_frontier(tuning.tuned_frontier(grid), tmp_path / "f.png", fit=fit),
        tuning_plots.plot_frontier(tuning.tuned_frontier(grid), tmp_path / "nofit.png"),
        tuning_plots.plot_noise_scale(noise, tmp_path / "noise.png", fit=fit),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    title = tuning_plots._fit_text(fit)  # the interval's method, not a bare "CI"
    assert title.endswith("(nominal 95% percentile bootstrap over seeds)") and "CI" not in title
    with pytest.raises(ValueError, match="one group"):
        tuning_plots.plot_lr_grid(pd.concat([grid, grid]), tmp_path / "twice.png")


def test_frontier_labels_stay_clear_of_the_other_panel_and_inside_the_figure():
    import matplotlib.pyplot as plt

    from batchstudy import tuning_plots

    runs = make_runs(known_optimum)
    grid = tuning.lr_grid(runs, "95")
    fit = tuning.tuned_critical_batch(runs, "95", n_boot=20).iloc[0].to_dict()
    fig = tuning_plots.frontier_figure(tuning.tuned_frontier(grid), fit=fit, title="t")
    renderer = fig.canvas.get_renderer()
    left, right = fig.axes[0], fig.axes[1]
    ylabel = right.yaxis.get_tightbbox(renderer)  # tick labels and label of the right panel
    assert ylabel.x0 > left.get_window_extent(renderer).x1
    for text in left.texts:  # the rate labels beside the points, inside the left panel
        assert text.get_window_extent(renderer).x1 <= left.get_window_extent(renderer).x1
    plt.close(fig)


def test_tuning_figures_write_rates_as_the_text_does(monkeypatch):
    """The lr grid's column labels and the frontier's rate labels are `config.format_lr` of
    the rates the config expands to (0.003162, as the text prints it, not 0.0032)."""
    import matplotlib.pyplot as plt

    from batchstudy import tuning_plots
    from batchstudy.config import format_lr

    rates = RATES
    assert "0.003162" in [format_lr(r) for r in rates]
    grid = tuning.lr_grid(make_runs(known_optimum, rates=rates), "95")
    figs = []
    monkeypatch.setattr(tuning_plots, "_save", lambda fig, out, dpi: figs.append(fig) or out)
    tuning_plots.plot_lr_grid(grid, "unused.png")
    (fig,) = figs
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == [format_lr(r) for r in rates]
    front = tuning.tuned_frontier(grid)
    frontier = tuning_plots.frontier_figure(front, title="t")
    labels = [t.get_text() for t in frontier.axes[0].texts]
    assert labels and set(labels) <= {format_lr(r) for r in rates}
    assert "0.0032" not in labels
    plt.close(fig)
    plt.close(frontier)


def test_earliest_crossings_move_each_median_one_evaluation_back_and_never_below_one_step():
    got = tuning.earliest_crossings([150.0, 23.5, 100.0, np.inf, np.nan], [100, 1, 100, 50, 5])
    np.testing.assert_array_equal(got[:4], [50.0, 22.5, 1.0, np.inf])
    assert np.isnan(got[4])


def test_crossing_placements_put_each_finite_median_at_either_end_of_its_interval():
    got = tuning.crossing_placements([150.0, np.inf, 50.0, np.nan], [100, 5, 25, 5])
    assert got.shape == (4, 4)
    np.testing.assert_array_equal(got[0], [150.0, np.inf, 50.0, np.nan])
    assert {tuple(r[[0, 2]]) for r in got} == {(150, 50), (50, 50), (150, 25), (50, 25)}
    assert np.isinf(got[:, 1]).all() and np.isnan(got[:, 3]).all()


#: Batch sizes and epoch-resolution spacing (400 training rows) of a hand-made frontier.
_B = np.array([4, 8, 16, 32, 64, 128, 256, 512])
_EPOCH = np.ceil(400 / _B)


def test_the_spacing_range_places_each_crossing_independently_and_is_wider_than_two_refits():
    """S = 23 + 520/B read at epoch resolution: refitting only the medians as observed and all
    of them one evaluation earlier gives 5.49–22.6; moving each crossing on its own to either
    end of its interval (256 refits) reaches 4.03–27.1, beyond both ends, and the medians'
    own B_crit lies inside."""
    steps = 23 + 520 / _B
    observed = scaling.fit_critical_batch(_B, steps)["b_crit"]
    earlier = scaling.fit_critical_batch(_B, tuning.earliest_crossings(steps, _EPOCH))["b_crit"]
    assert (earlier, observed) == pytest.approx((5.49, 22.6), abs=0.01)
    lo, hi = tuning.spacing_bcrit_range(_B, steps, _EPOCH)
    assert (lo, hi) == pytest.approx((4.03, 27.08), abs=0.01)
    assert lo < earlier and hi > observed
    fits = [
        scaling.fit_critical_batch(_B, r)["b_crit"]
        for r in tuning.crossing_placements(steps, _EPOCH)
    ]
    assert (lo, hi) == (min(fits), max(fits))
    # Evaluated every step, the range shrinks around the medians' own B_crit.
    fine = tuning.spacing_bcrit_range(_B, steps, np.ones(_B.size))
    assert fine[0] <= observed <= fine[1] and fine[1] - fine[0] < 2


def test_the_spacing_range_is_unknown_without_a_spacing_and_keeps_zero_bound_ends():
    steps = np.array([150.0, 100.0, 50.0])
    assert np.isnan(tuning.spacing_bcrit_range([4, 8, 16], steps, [100, np.nan, 25])).all()
    # Some placements fall like 1/B (S_min at 0: inf), others stay flat (E_min at 0: 0).
    assert tuning.spacing_bcrit_range([4, 8, 16], steps, [100, 50, 25]) == (0.0, np.inf)
    many = np.arange(1, tuning.MAX_PLACED_SIZES + 2, dtype=float)
    assert np.isnan(tuning.spacing_bcrit_range(many, 100 / many + 5, np.ones(many.size))).all()


def test_the_frontiers_examples_points_and_curve_are_one_quantity_b_times_steps():
    """The fit's E = B·S: the examples panel's points are B × the median steps, the fitted
    curve B × S(B) through the same points' model, whatever the table's examples seen (a
    frontier whose examples seen are smaller, as where B does not divide the training rows);
    the axis says what it is."""
    import matplotlib.pyplot as plt

    from batchstudy import tuning_plots

    runs = make_runs(known_optimum)
    grid = tuning.lr_grid(runs, "95")
    fit = tuning.tuned_critical_batch(runs, "95", n_boot=20).iloc[0].to_dict()
    front = tuning.tuned_frontier(grid)
    front = front.assign(median_examples=front["median_examples"] * 0.7)  # examples seen
    fig = tuning_plots.frontier_figure(front, fit=fit, title="t")
    right = fig.axes[1]
    assert right.get_ylabel() == tuning_plots.EXAMPLES_LABEL and "B × steps" in right.get_ylabel()
    points = right.lines[0]
    b = front.sort_values("batch_size")["batch_size"].to_numpy(dtype=float)
    steps = front.sort_values("batch_size")["median_steps"].to_numpy(dtype=float)
    ok = np.isfinite(steps)
    np.testing.assert_allclose(points.get_ydata(), b[ok] * steps[ok])
    curve = next(line for line in right.lines if line.get_color() == "C1")
    x = curve.get_xdata()
    np.testing.assert_allclose(
        curve.get_ydata(), x * scaling.predicted_steps(x, fit["s_min"], fit["e_min"])
    )
    plt.close(fig)


def test_lr_grid_keeps_its_key_under_a_title_and_frames_adjacent_choices_apart(monkeypatch):
    """The heatmap's key (what the outline and the grey mean) stays under a group's title, and
    the frames of chosen cells in adjacent rows (same rate chosen at two batch sizes) do not
    share an edge."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from batchstudy import tuning_plots

    grid = tuning.lr_grid(make_runs(known_optimum), "95")
    figs = []
    monkeypatch.setattr(tuning_plots, "_save", lambda fig, out, dpi: figs.append(fig) or out)
    tuning_plots.plot_lr_grid(grid, "unused.png", title="blobs · adam")
    (fig,) = figs
    ax = fig.axes[0]
    assert ax.get_title() == f"blobs · adam\n{tuning_plots.GRID_KEY}"
    frames = [p for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()]
    assert len(frames) == grid["batch_size"].nunique()  # one chosen rate per batch size
    for f in frames:
        x, y = f.get_xy()
        cell_x, cell_y = round(x + 0.5), round(y + 0.5)
        assert x > cell_x - 0.5 and x + f.get_width() < cell_x + 0.5
        assert y > cell_y - 0.5 and y + f.get_height() < cell_y + 0.5
    plt.close(fig)


def test_frontier_title_says_what_the_interval_leaves_out_and_a_poor_fit():
    import matplotlib.pyplot as plt

    from batchstudy import scaling, tuning_findings, tuning_plots

    grid = tuning.lr_grid(make_runs(known_optimum), "95")
    fit = {
        "ok": True,
        "below_range": False,
        "b_crit": 22.5,
        "lo": 7.81,
        "hi": 42.0,
        "level": 0.95,
        "s_min": 30.0,
        "e_min": 700.0,
        "rel_rmse": scaling.POOR_FIT_RMSE + 0.05,
        tuning_findings.SPACING_LO: 8.27,
        tuning_findings.SPACING_HI: 27.3,
    }
    note = tuning_findings.frontier_note(fit)
    assert note.startswith("B_crit 8.27–27.3 over every placement of the crossings")
    assert "the fit is poor" in note and note.endswith("indicative only")
    good = fit | {"rel_rmse": scaling.POOR_FIT_RMSE / 2}
    assert "indicative" not in tuning_findings.frontier_note(good)
    assert tuning_findings.frontier_note(fit | {"ok": False}) == ""
    fig = tuning_plots.frontier_figure(
        tuning.tuned_frontier(grid), fit=fit, title="blobs · sgd", note=note
    )
    title = fig._suptitle.get_text()
    assert title.startswith("blobs · sgd  B_crit = 22.5") and "indicative only" in title
    assert fig.get_figheight() > tuning_plots.FRONTIER_PANEL_INCHES  # room for three lines
    plt.close(fig)
