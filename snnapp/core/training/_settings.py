"""Every training setting, by name: what the CLI's options, a tuning space and the model card read.

The settings are the fields of :class:`TrainConfig` and of its sections (``network``,
``encoder``, ``audio``, ``image``), each declared once with
:func:`snnapp.core._dictconfig.setting` (default, help, bounds; choices from its ``Literal``).
This module walks those declarations; nothing here restates a default or a range.

Names: a setting's full name is dotted (``network.beta``, ``audio.deltas``; training fields are
bare: ``epochs``). A field whose name no other setting shares is also known by that name alone
(``beta``, ``deltas``, ``n_mfcc``): the CLI's ``--beta`` and a space's ``beta`` are such short
names. The encoders' ``image`` and ``audio`` would clash with the sections, so their short names
are ``image_encoder`` and ``audio_encoder``.

Importing this module needs no torch (the settings are plain data).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from dataclasses import dataclass
from typing import Any

from snnapp.core._atomic import shown
from snnapp.core._dictconfig import Bounds, choices_of, setting_info, short_repr
from snnapp.core.encoders import EncoderConfig
from snnapp.core.errors import ConfigError
from snnapp.core.network import NetworkConfig
from snnapp.core.preprocess import AudioConfig, ImageConfig

from ._config import TrainConfig

#: The settings sections of :class:`TrainConfig` and the dataclass each holds.
SECTIONS: dict[str, Any] = {"network": NetworkConfig, "encoder": EncoderConfig, "audio": AudioConfig,
                             "image": ImageConfig}
#: Fields that other settings determine (training fills them in from the encoders and the audio
#: features): kept in a model's config, but not a recipe's to choose.
DERIVED = frozenset({"network.mode", "network.image_in_channels", "network.audio_in_features"})
#: Short names that the field's own name cannot be (it is a section's name).
_RENAMED = {"encoder.image": "image_encoder", "encoder.audio": "audio_encoder"}


@dataclass(frozen=True)
class Setting:
    """One setting: its full name, where it lives, its type, default, help, choices and bounds."""

    name: str
    section: str | None
    field: str
    annotation: Any
    default: Any
    help: str
    choices: tuple[Any, ...]
    bounds: Bounds

    @property
    def kind(self) -> str:
        """``bool``, ``int``, ``float``, ``word`` (a string or a choice), ``list`` or ``table``."""
        base = _base(self.annotation)
        if self.choices or base is str:
            return "word"
        if base in (bool, int, float):
            return base.__name__
        return "list" if typing.get_origin(base) is tuple else "table"

    @property
    def optional(self) -> bool:
        """``None`` is a value of this setting (``limit``: no limit)."""
        return type(None) in typing.get_args(self.annotation)

    @property
    def item(self) -> Any:
        """The type of a list setting's items."""
        return typing.get_args(_base(self.annotation))[0]

    def parse(self, text: str) -> Any:
        """The value that ``text`` (as typed after ``--set NAME=``) stands for; checked later
        against the field, so only the form is read here."""
        text = text.strip()
        if self.optional and text.lower() in ("none", ""):
            return None
        kind = self.kind
        try:
            if kind == "bool":
                word = text.lower()
                if word in ("true", "yes", "on", "1"):
                    return True
                if word in ("false", "no", "off", "0"):
                    return False
                raise ValueError
            if kind in ("int", "float"):
                number = float(text)
                return int(number) if kind == "int" and number.is_integer() else number
            if kind == "list":
                items = [t.strip() for t in text.strip("[]()").split(",") if t.strip()]
                return tuple(int(t) if self.item is int else t for t in items)
            if kind == "table":
                return json.loads(text) if text.startswith("{") else \
                    {k.strip(): _scalar(v) for k, _, v in (p.partition("=") for p in text.split(",") if p.strip())}
        except (ValueError, json.JSONDecodeError):
            raise ConfigError(f"{self.name}: {shown(text)} is not {_WANT[kind]}") from None
        return text

    def describe(self, default: bool = True) -> str:
        """One line for help texts and documentation: the help, then the choices or range and the
        default in parentheses (``default=False``: where a recipe, not the field, gives the default)."""
        extra = []
        if self.choices:
            extra.append("one of " + ", ".join(map(str, self.choices)))
        elif self.bounds != Bounds():
            extra.append(self.bounds.text())
        if default:
            extra.append(f"default {_shown_value(self.default)}")
        return f"{self.help} ({'; '.join(extra)})" if extra else self.help


_WANT = {"bool": "true or false", "int": "a whole number", "float": "a number",
         "list": "a comma-separated list", "table": "NAME=VALUE pairs or a JSON object", "word": "a word"}


def _base(annotation: Any) -> Any:
    """``annotation`` without ``| None``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if type(None) in typing.get_args(annotation) and len(args) == 1:
        return args[0]
    return annotation


def _scalar(text: str) -> Any:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return text


def _shown_value(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value) if not isinstance(value, dict) else (json.dumps(value) if value
                                                                                        else "none")


def _walk(cls: type, section: str | None) -> list[Setting]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        info = setting_info(f)
        if info is None:  # a section of TrainConfig
            continue
        name = f"{section}.{f.name}" if section else f.name
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        out.append(Setting(name, section, f.name, hints[f.name], default, info.help, choices_of(_base(hints[f.name])),
                           info.bounds))
    return out


@functools.cache
def settings() -> dict[str, Setting]:
    """Every setting a recipe, an option or a space may set, by full name."""
    found = _walk(TrainConfig, None) + [s for sec, cls in SECTIONS.items() for s in _walk(cls, sec)]
    return {s.name: s for s in found if s.name not in DERIVED}


@functools.cache
def short_names() -> dict[str, str]:
    """Short name -> full name, for the settings that have one (see the module's docstring)."""
    every = settings()
    count: dict[str, int] = {}
    for s in every.values():
        count[s.field] = count.get(s.field, 0) + 1
    out = {}
    for s in every.values():
        if s.section is None:
            continue
        short = _RENAMED.get(s.name, s.field)
        if short not in SECTIONS and count[s.field] == 1:
            out[short] = s.name
    return out


def lookup(name: str, where: str) -> Setting:
    """The setting called ``name`` (full or short), or one :class:`ConfigError` naming ``where``."""
    every = settings()
    full = name if name in every else short_names().get(name)
    if full is None:
        section = name.partition(".")[0]
        hint = f"; the {section} settings are {', '.join(s.field for s in every.values() if s.section == section)}" \
            if section in SECTIONS and "." in name else ""
        raise ConfigError(f"{where}: unknown setting {shown(name)}{hint}")
    return every[full]


def short_name(setting: Setting) -> str:
    """The shortest name of ``setting``: its short name where it has one."""
    return next((k for k, v in short_names().items() if v == setting.name), setting.name)


def differences(config: TrainConfig) -> list[tuple[Setting, Any]]:
    """The settings of ``config`` that differ from their defaults, in declaration order."""
    out = []
    for s in settings().values():
        value = getattr(getattr(config, s.section), s.field) if s.section else getattr(config, s.field)
        if value != s.default:
            out.append((s, value))
    return out


def value_text(value: Any) -> str:
    """A setting's value as the CLI's ``--set`` takes it."""
    return _shown_value(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else short_repr(value)


__all__ = ["DERIVED", "SECTIONS", "Setting", "differences", "lookup", "settings", "short_name", "short_names",
           "value_text"]
