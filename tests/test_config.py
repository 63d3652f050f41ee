"""Config validation and expansion into jobs."""

from __future__ import annotations

import math

import pytest

from batchstudy import config
from batchstudy.config import ConfigError


def test_defaults_reproduce_the_seed_experiment():
    cfg = config.validate({})
    ds = cfg["datasets"]["blobs"]
    assert (ds["n_samples"], ds["centers"], ds["cluster_std"], ds["random_state"]) == (
        1000,
        3,
        2.0,
        2,
    )
    assert cfg["batch_sizes"] == [4, 8, 16, 32, 64, 128, 256, 512]
    assert cfg["epochs"] == 100
    assert cfg["optimizers"] == {"adam": {"name": "adam", "learning_rate": 0.001}}
    assert len(cfg["seeds"]) >= 5


def test_shipped_config_is_valid():
    cfg = config.load(config.SCHEMA_PATH.parents[2] / "config" / "config.yaml")
    assert cfg["engine"] == "fused"
    assert len(config.conditions(cfg)) == 1


def test_unknown_key_suggests_the_nearest():
    with pytest.raises(ConfigError, match=r"unknown key 'epoch'.*did you mean 'epochs'"):
        config.validate({"epoch": 3})


@pytest.mark.parametrize(
    "bad, needle",
    [
        ({"batch_sizes": [0]}, "batch_sizes[0] = 0: must be >= 1"),
        ({"batch_sizes": [8, 8]}, "duplicated: 8"),
        ({"engine": "jax"}, "engine = 'jax': must be one of ['fused', 'keras']"),
        ({"epochs": 2.5}, "epochs = 2.5: must be of type integer"),
        ({"seeds": True}, "seeds = True: must be of type array"),
    ],
)
def test_errors_name_key_value_and_rule(bad, needle):
    with pytest.raises(ConfigError) as exc:
        config.validate(bad)
    assert needle in str(exc.value)


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as exc:
        config.validate({"epochs": 0, "batch_sizes": [-1]})
    assert "epochs = 0" in str(exc.value) and "batch_sizes[0] = -1" in str(exc.value)


def test_conditions_cross_every_axis():
    cfg = config.validate(
        {
            "optimizers": {
                "adam": {"name": "adam", "learning_rate": 1e-3},
                "sgd": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9},
            },
            "lr_scaling": {"arms": ["constant", "linear", "sqrt"]},
            "step_budgets": [500],
        }
    )
    conds = config.conditions(cfg)
    assert len(conds) == 2 * 3 * 2
    assert {c.budget for c in conds} == {"e100", "s500"}


def test_learning_rate_arms():
    assert config.scaled_learning_rate(0.1, "constant", 128, 32) == 0.1
    assert config.scaled_learning_rate(0.1, "linear", 128, 32) == pytest.approx(0.4)
    assert config.scaled_learning_rate(0.1, "sqrt", 128, 32) == pytest.approx(0.2)
    assert math.isclose(config.scaled_learning_rate(0.1, "sqrt", 8, 32), 0.05)


def test_train_spec_is_canonical_and_budget_aware():
    cfg = config.validate({"step_budgets": [1000]})
    e, s = config.conditions(cfg)
    a = config.train_spec(cfg, e, 64)
    assert a.to_json() == config.train_spec(cfg, e, 64).to_json()
    assert a.epochs == 100
    steps = config.train_spec(cfg, s, 64)
    assert steps.resolved(500).epochs == math.ceil(1000 / 8)
    assert config.train_spec(cfg, s, 512).resolved(500).epochs == 1000


def test_changing_plots_does_not_change_training_specs():
    a = config.validate({})
    b = config.validate({"plots": {"dpi": 200}, "title": "other"})
    cond = config.conditions(a)[0]
    assert config.train_spec(a, cond, 32) == config.train_spec(b, cond, 32)


def test_command_line_overrides_get_yaml_types():
    cfg = {
        "batch_sizes": ["16", "64"],
        "plots": {"dpi": "120", "columns": 2},
        "title": "16",
        "seeds": ["1", "2"],
    }
    config.retype_overrides(cfg, {"batch_sizes": ["16", "64"], "plots": {"dpi": "120"}})
    assert cfg["batch_sizes"] == [16, 64]
    assert cfg["plots"]["dpi"] == 120
    assert cfg["title"] == "16" and cfg["seeds"] == ["1", "2"]  # not overridden: untouched
    with pytest.raises(ConfigError, match=r"seeds\[0\] = '1'"):
        config.validate({"seeds": ["1", "2"]})
