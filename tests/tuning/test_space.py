"""Search spaces: defaults, files, grids, contradictions, and trial values -> training settings."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from snnapp.core.errors import ConfigError
from snnapp.tuning import (
    PAPER_PARAMS,
    SearchSpace,
    default_space,
    feasible,
    get_method,
    load_space,
    make_config,
    make_pruner,
)
from snnapp.tuning._defaults import base_config


def test_default_space_is_the_papers_three_parameters():
    space = default_space("image")
    assert space.names == list(PAPER_PARAMS)
    lr = space.get("lr")
    assert (lr.low, lr.high, lr.log) == (1e-4, 2e-2, True)
    assert len(list(space.grid()["lr"])) == 3


def test_optional_parameters_are_added_by_name():
    space = default_space("audio", ["beta", "encoder", "num_steps", "hidden", "threshold"])
    assert "latency" not in space.get("encoder").choices  # image-only encoder
    assert space.get("num_steps").choices == (8, 16, 32)
    with pytest.raises(ConfigError, match="no default range"):
        default_space("audio", ["slope"])


def test_toml_and_yaml_files_give_the_same_space(tmp_path: Path, space_file: Path):
    yaml_file = tmp_path / "space.yaml"
    yaml_file.write_text("params:\n  lr: {low: 0.001, high: 0.02, log: true, grid: [0.003, 0.01]}\n"
                         "  correct_rate: {low: 0.6, high: 1.0, grid: [0.8, 1.0]}\n"
                         "  incorrect_rate: {low: 0.0, high: 0.4}\n"
                         "fixed: {audio_hidden: [32], num_steps: 8, batch_size: 32, augment: false}\n")
    assert load_space(yaml_file).to_json() == load_space(space_file).to_json()


@pytest.mark.parametrize("text, message", [
    ("[params]\n", "empty"),
    ("[params.correct_rate]\nlow = 0.1\nhigh = 0.3\n[params.incorrect_rate]\nlow = 0.4\nhigh = 0.5\n", "contradictory"),
    ("[params.lr]\nlow = 0.1\nhigh = 0.01\n", "low <= high"),
    ("[params.momentum]\nlow = 0.1\nhigh = 0.2\n", "unknown search parameter"),
    ("[params.lr]\nlow = 0.001\nhigh = 0.01\n[fixed]\nwarp = 9\n", "unknown fixed"),
    ("[params.lr\n", "not valid TOML"),
])
def test_bad_space_files_are_one_clear_error(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_space(path)


def test_grid_needs_values_and_a_feasible_point():
    space = SearchSpace.from_dict({"params": {"lr": {"low": 1e-3, "high": 1e-2}}})
    with pytest.raises(ConfigError, match="grid search needs values for lr"):
        space.grid()
    assert space.with_grid({"lr": [1e-3, 5e-3]}).grid() == {"lr": [1e-3, 5e-3]}
    rates = SearchSpace.from_dict({"params": {
        "correct_rate": {"low": 0.5, "high": 1.0, "grid": [0.5]},
        "incorrect_rate": {"low": 0.0, "high": 0.6, "grid": [0.5, 0.6]}}})
    with pytest.raises(ConfigError, match="contradictory grid"):
        rates.grid()
    with pytest.raises(ConfigError, match="does not search"):
        space.with_grid({"beta": [0.9]})


def test_trial_values_reach_the_training_settings():
    base = base_config("multimodal", epochs=2, seed=3)
    cfg = make_config(base, {"lr": 0.01, "hidden": 64, "encoder": "rate", "beta": 0.8, "num_steps": 8})
    assert (cfg.lr, cfg.epochs, cfg.seed) == (0.01, 2, 3)
    assert cfg.network.image_hidden == 64 and cfg.network.audio_hidden == (64, 64)
    assert cfg.encoder.image == cfg.encoder.audio == "rate"
    assert (cfg.network.beta, cfg.network.num_steps) == (0.8, 8)
    assert not feasible({"correct_rate": 0.5, "incorrect_rate": 0.5}, {})


def test_methods_make_their_samplers():
    space = default_space("audio")
    kinds = {"grid": optuna.samplers.GridSampler, "random": optuna.samplers.RandomSampler,
             "bayes": optuna.samplers.TPESampler, "cmaes": optuna.samplers.CmaEsSampler}
    for name, cls in kinds.items():
        assert isinstance(get_method(name).sampler(space, 0, 1), cls)
    assert isinstance(get_method("bayes", "gp").sampler(space, 0, 1), optuna.samplers.GPSampler)
    assert get_method("grid").default_trials(space) == 27 and get_method("grid").default_pruner == "none"
    with pytest.raises(ConfigError, match="unknown method 'anneal'"):
        get_method("anneal")
    with pytest.raises(ConfigError, match="unknown sampler"):
        get_method("bayes", "smac")
    with pytest.raises(ConfigError, match="applies to bayes only"):
        get_method("random", "gp")
    assert isinstance(make_pruner("hyperband", 4), optuna.pruners.HyperbandPruner)
    with pytest.raises(ConfigError, match="unknown pruner"):
        make_pruner("sometimes", 4)
