"""Recipes: the shipped ones are the settings of the shipped models, ``snnapp train`` and tune
trials start from them, options override single settings, and a bad recipe file is one line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.cli._train import FLAGS
from snnapp.core.errors import ConfigError
from snnapp.core.modelio import ModelConfig
from snnapp.core.training import TrainConfig, complete_network, load_recipe, lookup, recipe_names, with_settings

ROOT = Path(__file__).resolve().parents[3]
MODES = ("image", "audio", "multimodal")


def _used(cfg: TrainConfig) -> dict:
    """The settings that shape a model of ``cfg``'s mode (an image model has no audio branch)."""
    net = cfg.network.to_dict()
    if not cfg.network.uses_audio:
        net = {k: v for k, v in net.items() if not k.startswith("audio_")}
    hyper = {k: v for k, v in cfg.hyper().items() if k not in ("init_from", "limit")}
    return {"network": net, "encoder": cfg.encoder.to_dict(), "hyper": hyper,
            "audio": cfg.audio.to_dict() if cfg.network.uses_audio else None, "image": cfg.image.to_dict()}


@pytest.mark.parametrize("mode", MODES)
def test_the_shipped_recipe_is_the_shipped_models_settings(mode: str) -> None:
    shipped = ModelConfig.from_dict(json.loads((ROOT / "snnapp" / "assets" / "models" / mode / "config.json")
                                               .read_text()))
    recipe = complete_network(load_recipe(mode).config())
    model = TrainConfig.of_model(shipped)
    if recipe.precision == "auto":  # the model records what auto became where it was trained
        assert model.precision in ("fp32", "bf16")
        recipe = dataclasses.replace(recipe, precision=model.precision)
    assert _used(recipe) == _used(model)
    assert recipe_names() == sorted(MODES)


def test_every_option_of_train_is_a_setting_of_a_recipe() -> None:
    """The options of ``snnapp train`` name only settings that exist, each once."""
    targets = [lookup(name, "train").name for name in FLAGS]
    assert len(set(targets)) == len(targets)


def test_overrides_change_one_setting_and_are_checked() -> None:
    base = load_recipe("audio").config()
    cfg = load_recipe("audio").config(**{"network.beta": 0.8, "audio.deltas": False, "epochs": 2})
    assert (cfg.network.beta, cfg.audio.deltas, cfg.epochs) == (0.8, False, 2)
    assert cfg.audio.n_mfcc == base.audio.n_mfcc == 13 and cfg.feature_masks == base.feature_masks == 1
    assert with_settings(cfg, {"lr": 0.01}, "x").lr == 0.01  # a TrainConfig is a base too
    for bad, words in (({"network.bogus": 1}, "network.bogus"), ({"epochs": "ten"}, "epochs"),
                       ({"nope": 1}, "nope"), ({"audio.n_mfcc": 1.5}, "audio.n_mfcc"), ({"x.y": 1}, "x.y")):
        with pytest.raises(ConfigError, match=words):
            load_recipe("audio").config(**bad)


def test_a_recipe_file_of_ones_own(tmp_path: Path) -> None:
    mine = tmp_path / "long.toml"
    mine.write_text('mode = "audio"\nepochs = 80\n[network]\nbeta = 0.95\n[audio]\nn_mfcc = 16\n')
    cfg = load_recipe(mine).config()
    # what it leaves out keeps the dataclass default (4 time steps), not another recipe's value
    assert (cfg.epochs, cfg.network.beta, cfg.audio.n_mfcc, cfg.network.num_steps) == (80, 0.95, 16, 4)
    for text, words in (('epochs = 3\n', "names its mode"), ('mode = "audio"\nepochs = 0\n', "epochs"),
                        ('mode = "audio"\n[network]\nmode = "image"\n', "network.mode"),
                        ('mode = "audio"\nnetwork = 3\n', r"\[network\]"), ("mode = \n", "not valid TOML")):
        mine.write_text(text)
        with pytest.raises(ConfigError, match=words) as caught:
            load_recipe(mine)
        assert str(mine) in str(caught.value)
    res = CliRunner().invoke(app, ["train", "--recipe", str(mine)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and str(mine) in res.stderr, res.output
    res = CliRunner().invoke(app, ["train", "--recipe", "image", "--mode", "audio"])
    assert res.exit_code == 2 and "trains the image network, not audio" in res.stderr


def test_train_without_settings_trains_the_recipe(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    """Only what is given on the command line changes; everything else is the audio recipe's."""
    out = tmp_path / "audio"
    res = CliRunner().invoke(app, ["train", "--mode", "audio", "--limit", "32", "--epochs", "1", "--audio-copies", "0",
                                   "--audio-hidden", "16", "--device", "cpu", "--out", str(out),
                                   "--data-dir", str(data_dir)], env={"SNNAPP_CACHE_DIR": str(cache_dir)})
    assert res.exit_code == 0, res.output
    config = json.loads((out / "config.json").read_text())
    recipe = load_recipe("audio").config()
    assert config["audio"]["n_mfcc"] == 13 and config["audio"]["deltas"] is True
    assert config["network"]["num_steps"] == recipe.network.num_steps == 32
    assert config["training"]["feature_masks"] == 1 and config["training"]["patience"] == 60
    assert (config["training"]["epochs"], config["network"]["audio_hidden"]) == (1, [16])
    assert json.loads((out / "metrics.json").read_text())["recipe"] == "audio"
    assert "Recipe `audio`" in (out / "MODEL_CARD.md").read_text()


@pytest.mark.parametrize("mode", MODES)
def test_tune_trials_start_from_the_recipe(mode: str) -> None:
    from snnapp.tuning import base_config

    trial = base_config(mode, epochs=2, seed=5)
    assert _used(trial)["network"] == _used(load_recipe(mode).config())["network"]
    assert (trial.epochs, trial.seed, trial.patience, trial.precision) == (2, 5, 2, load_recipe(mode).config().precision)
