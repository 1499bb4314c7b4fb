"""Every setting has one declaration, and every way of setting one reaches it.

The declarations (default, help, bounds, choices) live on the config dataclasses; the CLI's
options, ``--set``, a space file's ``[fixed]`` and searched parameters, recipes and the model card
all read them. These tests go through every setting, so a new field is covered without an edit.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.cli._train import FLAGS
from snnapp.core._dictconfig import setting_info
from snnapp.core.errors import ConfigError
from snnapp.core.training import TrainConfig, load_recipe, lookup, recipe_text, settings, short_names
from snnapp.core.training._recipe import _toml
from snnapp.core.training._settings import DERIVED, SECTIONS, Setting, value_text
from snnapp.tuning import Param, SearchSpace
from snnapp.tuning._defaults import base_config, make_config
from snnapp.tuning._space import STUDY_SETTINGS

runner = CliRunner()


def _other(s: Setting) -> Any:
    """A valid value of ``s`` other than its default (alone; the others at their defaults)."""
    if s.choices:
        return next(c for c in s.choices if c != s.default)
    kind, b = s.kind, s.bounds
    if kind == "bool":
        return not s.default
    if s.name == "network.image_channels":
        return (8, 16)
    if kind == "list":
        return (64,) if s.item is int else ("some/model",)
    if kind == "table":
        return {"tau_ref": 2.0}
    default = 5 if s.default is None else s.default
    if kind == "int":  # the nearest whole number the settings take (an odd kernel, say)
        for value in (default + 1, default - 1, default + 2, default - 2):
            if b.holds(value) and _valid(s, value):
                return value
    if b.low is not None and b.high is not None:
        return (b.low + b.high) / 2
    return default * 1.5 if default else 0.5


def _valid(s: Setting, value: Any) -> bool:
    try:
        load_recipe("multimodal").config(**{s.name: value})
    except ConfigError:
        return False
    return True


def _get(cfg: TrainConfig, s: Setting) -> Any:
    return getattr(getattr(cfg, s.section), s.field) if s.section else getattr(cfg, s.field)


ALL = list(settings().values())


def test_every_field_of_every_settings_dataclass_is_declared_with_help() -> None:
    seen = 0
    for section, cls in [(None, TrainConfig), *SECTIONS.items()]:
        for f in dataclasses.fields(cls):
            if section is None and f.name in SECTIONS:
                continue
            info = setting_info(f)
            assert info is not None and info.help.strip(), f"{section}.{f.name} has no setting() declaration"
            name = f"{section}.{f.name}" if section else f.name
            assert name in settings() or name in DERIVED
            seen += 1
    assert seen == len(settings()) + len(DERIVED)


def test_short_names_are_unique_and_each_points_to_one_setting() -> None:
    short = short_names()
    assert len(set(short.values())) == len(short)
    for name, full in short.items():
        assert lookup(name, "x") is settings()[full]
        assert name not in settings() or settings()[name] is settings()[full]
    assert short["beta"] == "network.beta" and short["deltas"] == "audio.deltas"
    assert short["image_encoder"] == "encoder.image"


def test_the_loss_choices_are_the_losses_training_implements() -> None:
    from snnapp.core.training import LOSSES

    assert set(lookup("loss", "x").choices) == set(LOSSES)


def test_importing_the_settings_needs_no_torch() -> None:
    code = ("import sys; from snnapp.core.training import TrainConfig, load_recipe, settings, with_settings; "
            "settings(); load_recipe('audio').config(beta=0.8); assert 'torch' not in sys.modules, 'torch imported'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("s", ALL, ids=lambda s: s.name)
def test_every_setting_can_be_set_from_the_cli_and_is_checked(s: Setting, tmp_path: Path) -> None:
    value = _other(s)
    res = runner.invoke(app, ["train", "--recipe", "multimodal", "--set", f"{s.name}={value_text(value)}",
                              "--show-config"])
    assert res.exit_code == 0, res.output
    recipe = tmp_path / "shown.toml"
    recipe.write_text(res.output)
    cfg = load_recipe(recipe).config()
    assert _get(cfg, s) == (tuple(value) if isinstance(value, list) else value)
    assert _get(cfg, s) != _get(load_recipe("multimodal").config(), s) or _get(cfg, s) == value
    if s.bounds.high is not None and s.kind in ("int", "float"):  # beyond the range: one line, exit 2
        bad = runner.invoke(app, ["train", "--recipe", "multimodal", "--set", f"{s.name}={s.bounds.high + 1}",
                                  "--show-config"])
        assert bad.exit_code == 2 and s.name in bad.output


@pytest.mark.parametrize("name", FLAGS)
def test_every_option_of_train_sets_its_setting(name: str, tmp_path: Path) -> None:
    s = lookup(name, "x")
    value = _other(s)
    flag = "--" + name.replace("_", "-")
    if s.kind == "bool":
        args = [flag if value else ("--pool-after-spike" if name == "pool_before_spike" else "--no-" + flag[2:])]
    elif s.kind == "list" and s.item is str:
        args = [a for v in value for a in (flag, v)]
    else:
        args = [flag, value_text(value)]
    res = runner.invoke(app, ["train", "--recipe", "multimodal", *args, "--show-config"])
    assert res.exit_code == 0, res.output
    recipe = tmp_path / "shown.toml"
    recipe.write_text(res.output)
    assert _get(load_recipe(recipe).config(), s) == value


#: What a study sets itself, per study (tune's epochs per trial, seed and example limit): refused in
#: a space, with a line that says so (tested below).
STUDY = [s for s in ALL if s.name in STUDY_SETTINGS]
SPACE = [s for s in ALL if s.name not in STUDY_SETTINGS]


@pytest.mark.parametrize("s", SPACE, ids=lambda s: s.name)
def test_every_setting_can_be_fixed_in_a_space_file_by_its_full_name(s: Setting, tmp_path: Path) -> None:
    from snnapp.tuning import load_space

    value = _other(s)
    path = tmp_path / "space.toml"
    searched = "weight_decay" if s.name == "lr" else "lr"
    path.write_text(f'[params.{searched}]\nlow = 0.001\nhigh = 0.01\n\n[fixed]\n"{s.name}" = {_toml(value)}\n')
    space = load_space(path)
    cfg = make_config(base_config("multimodal", 1, 0), space.fixed)
    assert _get(cfg, s) == value


@pytest.mark.parametrize("s", [s for s in SPACE if s.kind in ("int", "float", "bool", "word")], ids=lambda s: s.name)
def test_every_scalar_setting_can_be_searched(s: Setting) -> None:
    value = _other(s)
    space = SearchSpace((Param(s.name, "categorical", choices=(s.default if s.default is not None else value, value)),))
    cfg = make_config(base_config("multimodal", 1, 0), {s.name: value})
    assert _get(cfg, s) == value
    assert space.names == [s.name]


def test_a_study_setting_or_an_unknown_name_is_refused_in_a_space() -> None:
    assert {s.name for s in STUDY} == {"epochs", "seed", "limit"}
    for name, words in (("epochs", "set by the study itself"), ("network.bogus", "unknown search parameter network.bogus"),
                        ("bogus", "unknown search parameter bogus")):
        with pytest.raises(ConfigError, match=words):
            Param(name, "float", 0.1, 0.2)
    with pytest.raises(ConfigError, match="true or false"):
        Param("audio.deltas", "categorical", choices=(1, 2))


@pytest.mark.parametrize("mode", ["image", "audio", "multimodal"])
def test_a_shown_config_reads_back_as_the_same_config(mode: str, tmp_path: Path) -> None:
    cfg = load_recipe(mode).config(**{"beta": 0.7, "network.cond_params": {"tau_ref": 3.0}, "limit": 9,
                                      "image_channels": (4, 8), "audio.fmin": 40.0, "invert": "never"})
    path = tmp_path / "r.toml"
    path.write_text(recipe_text(cfg, "two\nlines"))
    assert load_recipe(path).config() == cfg


def test_the_model_card_names_the_settings_that_differ_from_the_defaults() -> None:
    from snnapp.core.modelcard import render_card
    from snnapp.core.modelio import load_model
    from snnapp.core.predict import shipped_model

    model = load_model(shipped_model("audio"))
    card = render_card(model.path, model.config, model.metrics)
    assert "| `audio.deltas` | true |" in card and lookup("deltas", "x").help in card
    assert "`network.beta`" not in card  # at its default


def test_help_of_each_option_is_its_declaration() -> None:
    res = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "400"}, terminal_width=400)
    assert res.exit_code == 0
    for name in ("beta", "deltas", "n_mfcc"):
        assert lookup(name, "x").help.split(".")[0] in res.output
    listing = runner.invoke(app, ["train", "--list-settings"])
    assert listing.exit_code == 0
    for s in ALL:
        assert s.name in listing.output


def test_value_text_is_what_parse_reads() -> None:
    for s in ALL:
        value = _other(s)
        assert s.parse(value_text(value)) == (typing.cast(Any, value))


def test_a_space_file_names_settings_in_section_tables_or_quoted_full_names(tmp_path: Path) -> None:
    from snnapp.tuning import load_space

    path = tmp_path / "space.toml"
    path.write_text('[params.network.beta]\nlow = 0.5\nhigh = 0.9\n[params."audio.deltas"]\nchoices = [true, false]\n'
                    '[fixed]\n"audio.n_mfcc" = 13\n[fixed.network]\nthreshold = 1.5\ncond_params = {tau_ref = 2.0}\n')
    space = load_space(path)
    assert space.names == ["network.beta", "audio.deltas"]
    assert space.fixed == {"audio.n_mfcc": 13, "network.threshold": 1.5, "network.cond_params": {"tau_ref": 2.0}}
    cfg = make_config(base_config("audio", 1, 0), {**space.fixed, "network.beta": 0.6, "audio.deltas": False})
    assert (cfg.network.beta, cfg.audio.deltas, cfg.audio.n_mfcc, cfg.network.threshold) == (0.6, False, 13, 1.5)
    path.write_text('[params.lr]\nlow = 0.001\nhigh = 0.01\n[fixed]\n"network.beta" = 0.5\n[fixed.network]\nbeta = 0.6\n')
    with pytest.raises(ConfigError, match="network.beta. is given twice"):
        load_space(path)


def test_a_space_naming_one_setting_twice_by_two_names_is_refused() -> None:
    with pytest.raises(ConfigError, match="beta and network.beta name the same setting"):
        SearchSpace((Param("lr", "float", 0.001, 0.01), Param("beta", "float", 0.5, 0.9)), {"network.beta": 0.7})
