"""Recipes: named sets of training settings, as data.

A recipe is a TOML file: :class:`TrainConfig`'s own fields at the top (``mode``, ``epochs``,
``precision``, ...) and one table per settings section (``[network]``, ``[encoder]``,
``[audio]``, ``[image]``) holding the fields of that section's dataclass. What a recipe leaves
out keeps the dataclass default, so a recipe says only what makes it what it is. The shipped
recipes (``snnapp/assets/recipes/<name>.toml``) are those that made the shipped models, one per
mode; ``snnapp train --mode M`` trains recipe ``M``, and trials of ``snnapp tune`` start from it.

Single settings are overridden by name (``epochs``, ``network.beta`` or ``beta``, ``audio.deltas``):
one function, :func:`with_settings`, maps such names into the sections for the CLI, the tuner and
personalisation; the names and what each setting is come from :mod:`._settings`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import stat
import tomllib
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from snnapp.core._atomic import shown
from snnapp.core._dictconfig import check_value, checked_fields, short_repr
from snnapp.core.errors import ConfigError
from snnapp.core.network import MODES, NetworkConfig

from ._config import TrainConfig
from ._settings import SECTIONS, lookup

RECIPES_DIR = Path(__file__).resolve().parents[2] / "assets" / "recipes"
#: Largest recipe file read (a recipe is a few hundred bytes).
MAX_RECIPE_BYTES = 1 << 16


@dataclass(frozen=True)
class Recipe:
    """A recipe's name (its file's stem), where it came from, and its settings by section."""

    name: str
    source: str
    settings: Mapping[str, Any]

    @property
    def mode(self) -> str:
        return str(self.settings["mode"])

    def config(self, where: str | None = None, **overrides: Any) -> TrainConfig:
        """The :class:`TrainConfig` of this recipe, with ``overrides`` (names as :func:`with_settings`
        takes them) applied; an error names ``where`` (default: the recipe's file), say the
        options the overrides came from."""
        return with_settings(self.settings, overrides, where or self.source)


def recipe_names() -> list[str]:
    """The shipped recipes, by name."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A shipped recipe by name (``image``), or a recipe file (``my.toml``); checked in full, so a
    wrong setting is one :class:`ConfigError` naming the file and the setting."""
    text = str(name_or_path)
    path = RECIPES_DIR / f"{text}.toml" if text in recipe_names() else Path(name_or_path)
    if not path.suffix.lower() == ".toml":
        raise ConfigError(f"unknown recipe {shown(text)}; give one of {', '.join(recipe_names())} or a .toml file")
    source = shown(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{source}: not a regular file; a recipe is a .toml file")
        if st.st_size > MAX_RECIPE_BYTES:
            raise ConfigError(f"{source}: {st.st_size} bytes is too large for a recipe")
        with open(path, "rb") as f:
            data = tomllib.loads(f.read(MAX_RECIPE_BYTES + 1).decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such recipe file; the shipped recipes are {', '.join(recipe_names())}") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    if data.get("mode") not in MODES:
        raise ConfigError(f"{source}: a recipe names its mode: mode = one of {', '.join(MODES)}")
    recipe = Recipe(Path(path).stem, source, data)
    recipe.config()  # every setting checked now, with the file's name
    return recipe


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in fields(cls)}


def with_settings(base: Mapping[str, Any] | TrainConfig, overrides: Mapping[str, Any], where: str) -> TrainConfig:
    """``base`` (a recipe's settings, or a :class:`TrainConfig`) with ``overrides`` applied: the one
    function through which the CLI, the tuner, personalisation and recipes change settings.

    Overrides are named as :func:`~._settings.lookup` knows them: full (``network.beta``,
    ``lr``) or short (``beta``); ``mode`` is the network's. Every name and value is checked
    against its dataclass field; an unknown name or a value of the wrong type is a
    :class:`ConfigError` naming ``where`` and the setting.
    """
    if isinstance(base, TrainConfig):
        tree: dict[str, Any] = dict(base.hyper())
        for section in SECTIONS:
            tree[section] = getattr(base, section).to_dict()
        tree["mode"] = tree["network"].pop("mode")
    else:
        tree = {k: dict(v) if isinstance(v, Mapping) else v for k, v in base.items()}
    for name, value in overrides.items():
        if name == "mode":
            tree["mode"] = value
            continue
        found = lookup(name, where)
        if found.section is None:
            tree[found.field] = value
        else:
            part = tree.setdefault(found.section, {})
            if not isinstance(part, dict):
                raise ConfigError(f"{where}: [{found.section}] must be a table of settings")
            part[found.field] = value
    train_fields = _fields(TrainConfig)
    kwargs: dict[str, Any] = {}
    for key, value in tree.items():
        if key in SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: [{key}] must be a table of settings")
            known = _fields(SECTIONS[key])
            for k in value:
                if k not in known or (key == "network" and k == "mode"):
                    raise ConfigError(f"{where}: unknown setting {key}.{shown(k)}")
        elif key != "mode" and (key not in train_fields or key in SECTIONS):
            raise ConfigError(f"{where}: unknown setting {shown(key)}")
        elif key != "mode":
            kwargs[key] = check_value(_train_hints()[key], value, f"{where}: {key}")
    mode = tree.get("mode")
    if mode not in MODES:
        raise ConfigError(f"{where}: mode: choose one of {', '.join(MODES)}, got {shown(str(mode))}")
    try:
        sections: dict[str, Any] = {}
        for key, cls in SECTIONS.items():
            values = dict(tree.get(key, {}))
            if key == "network":
                values["mode"] = mode
            sections[key] = cls.from_dict(values, f"{where}: {key}") if key != "network" else \
                _network(values, where)
        return TrainConfig(**sections, **kwargs)
    except ConfigError as exc:  # the dataclasses' own checks: said of the recipe they came from
        raise exc if str(exc).startswith(where) else ConfigError(f"{where}: {exc}") from None


def _network(values: dict[str, Any], where: str) -> NetworkConfig:
    checked = checked_fields(NetworkConfig, values, f"{where}: network")
    try:
        return NetworkConfig.from_dict({**values, **checked})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: network: {exc}") from None


@functools.cache
def _train_hints() -> dict[str, Any]:
    """:class:`TrainConfig`'s field types (its annotations are strings under postponed evaluation)."""
    return typing.get_type_hints(TrainConfig)


def recipe_text(config: TrainConfig, comment: str = "") -> str:
    """``config`` as a recipe file: its mode and the settings that differ from their defaults,
    which :func:`load_recipe` reads back to the same :class:`TrainConfig` (tested)."""
    from ._settings import differences

    top: list[str] = [f"# {line}".rstrip() for line in comment.splitlines()]
    top.append(f"mode = {_toml(config.mode)}")
    tables: dict[str, list[str]] = {}
    for s, value in differences(config):
        line = f"{s.field} = {_toml(value)}"
        (tables.setdefault(s.section, []) if s.section else top).append(line)
    out = top
    for section in SECTIONS:
        if section in tables:
            out += ["", f"[{section}]", *tables[section]]
    return "\n".join(out) + "\n"


def _toml(value: Any) -> str:
    """A TOML value (the settings' types: bool, number, string, list, table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"a recipe cannot hold {short_repr(value)}")


def recipe_of(mode: str) -> Recipe:
    """The shipped recipe of ``mode``."""
    return load_recipe(mode)


__all__ = ["RECIPES_DIR", "Recipe", "load_recipe", "recipe_names", "recipe_of", "recipe_text", "with_settings"]
