"""Frozen settings dataclasses that go to and from ``config.json``, and what each setting is.

Every field of a settings dataclass is declared with :func:`setting`: its default, one line of
help, and its bounds (``ge``/``gt``/``le``/``lt``); its choices are its ``Literal`` annotation. That
declaration is the setting's one home: :func:`check_settings` enforces the bounds and choices when
the dataclass is made, and the CLI's options, the tuner's space and the model card read the same
declaration (see :mod:`snnapp.core.training._settings`). Rules between settings (n_mfcc <= n_mels)
stay in the dataclass's ``__post_init__``.

Values read from a file are checked against the field's annotation before the dataclass is
built: a string where a number belongs, NaN or infinity, a float that is not a whole number for
an integer setting, or a list of junk each give a :class:`ConfigError` naming the setting, not a
``TypeError`` from deep inside (or, worse, a model that loads and then misbehaves).
"""

from __future__ import annotations

import dataclasses
import math
import re
import reprlib
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from snnapp.core.errors import ConfigError

T = TypeVar("T", bound="DictConfig")

#: Longest list accepted for a tuple setting (layer sizes and the like).
MAX_ITEMS = 64

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60
_short.maxlevel = 3


def short_repr(value: Any) -> str:
    """``repr`` cut to a readable length, safe on deeply nested or huge values."""
    try:
        return _short.repr(value)
    except (RecursionError, ValueError):
        return f"<{type(value).__name__}>"


def _fail(where: str, want: str, value: Any) -> ConfigError:
    return ConfigError(f"{where}: expected {want}, got {short_repr(value)}")


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The range of a numeric setting; ``None``: no bound on that side."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def holds(self, value: float) -> bool:
        return not ((self.ge is not None and not value >= self.ge) or (self.gt is not None and not value > self.gt)
                    or (self.le is not None and not value <= self.le) or (self.lt is not None and not value < self.lt))

    @property
    def low(self) -> float | None:
        return self.ge if self.ge is not None else self.gt

    @property
    def high(self) -> float | None:
        return self.le if self.le is not None else self.lt

    def text(self) -> str:
        """The range in words: ``1-1000``, ``above 0``, ``at least 0 and below 1``."""
        if self.ge is not None and self.le is not None:
            return f"{_num(self.ge)}-{_num(self.le)}"
        parts = [f"{word} {_num(v)}" for word, v in (("at least", self.ge), ("above", self.gt),
                                                     ("at most", self.le), ("below", self.lt)) if v is not None]
        return " and ".join(parts) or "any value"


    def refusal(self, where: str, value: Any) -> str:
        """The one line refusing ``value`` for the setting at ``where``."""
        if self.ge is not None and self.le is not None:
            return f"{where}: {short_repr(value)} is outside {self.text()}"
        return f"{where}: must be {self.text()}, got {short_repr(value)}"


def _num(x: float | None) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


class _NotSet:
    def __repr__(self) -> str:
        return "NOT_SET"


#: ``absent`` of a setting whose default is also what a config without it meant.
NOT_SET: Any = _NotSet()

#: The metadata key under which :func:`setting` keeps a field's description.
SETTING = "snnapp.setting"


@dataclasses.dataclass(frozen=True)
class SettingInfo:
    """What :func:`setting` declares about a field (its default and type are the field's own)."""

    help: str
    bounds: Bounds = Bounds()
    #: The value a saved config that lacks this setting meant: what the project did before the
    #: setting existed (NOT_SET: the default, for settings whose default is that behaviour).
    absent: Any = NOT_SET


def setting(default: Any = dataclasses.MISSING, help: str = "", *, ge: float | None = None, gt: float | None = None,
            le: float | None = None, lt: float | None = None, default_factory: Any = dataclasses.MISSING,
            absent: Any = NOT_SET) -> Any:
    """A settings dataclass field: its default, one line of help and its bounds, in one place.

    ``absent``: for a setting added after models were saved, the value that a ``config.json``
    without it stands for (the earlier behaviour), where that differs from the new default."""
    if not help:
        raise TypeError("every setting says what it is: give help")
    meta = {SETTING: SettingInfo(help, Bounds(ge, gt, le, lt), absent)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if isinstance(default, (list, dict, set)):
        raise TypeError("a mutable default needs default_factory")
    return dataclasses.field(default=default, metadata=meta)


def setting_info(f: dataclasses.Field) -> SettingInfo | None:
    return f.metadata.get(SETTING)


def choices_of(annotation: Any) -> tuple[Any, ...]:
    """The values a ``Literal`` annotation allows (also inside ``Optional``); () for any other."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    return ()


def check_settings(obj: Any, section: str) -> None:
    """Each field of settings dataclass ``obj`` within its declared bounds and choices, or one
    :class:`ConfigError` naming ``section.field``: the check :func:`setting` declares."""
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        where = f"{section}.{f.name}"
        options = choices_of(hints[f.name])
        if options and value not in options:
            raise ConfigError(f"{where}: unknown {f.name.replace('_', ' ')} {short_repr(value)}; "
                              f"choose one of {', '.join(map(str, options))}")
        info = setting_info(f)
        if info is None or value is None:
            continue
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not info.bounds.holds(v):
                raise ConfigError(info.bounds.refusal(where, v))


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """``cls``'s field types, resolved once (its annotations are strings under postponed evaluation)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def check_value(annotation: Any, value: Any, where: str) -> Any:
    """``value`` checked against ``annotation`` (and converted: lists to tuples, whole floats to ints)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        if any(type(value) is type(a) and value == a for a in args):
            return value
        name = re.split(r"[.:\s]+", where)[-1].replace("_", " ")
        raise ConfigError(f"{where}: unknown {name} {short_repr(value)}; "
                          f"choose one of {', '.join(map(str, args))}")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return check_value(a, value, where)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if errors else _fail(where, "a value", value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise _fail(where, "true or false", value)
    if annotation is int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(where, "a whole number", value)
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                f = float(value)
            except OverflowError:
                raise _fail(where, "a finite number", value) from None
            if math.isfinite(f):
                return f
        raise _fail(where, "a finite number", value)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _fail(where, "a string", value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _fail(where, "a list", value)
        if len(value) > MAX_ITEMS:
            raise ConfigError(f"{where}: a list of {len(value)} values; at most {MAX_ITEMS}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(check_value(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if args and len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(check_value(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value))) if args \
            else tuple(value)
    if annotation is dict or origin is dict:
        if isinstance(value, Mapping):
            return dict(value)
        raise _fail(where, "a table", value)
    return value


def checked_fields(cls: type, d: Any, section: str) -> dict[str, Any]:
    """The entries of ``d`` that are fields of dataclass ``cls``, each checked against its annotation.

    Unknown keys are left out (a model saved by a newer snnapp with an extra setting still loads).
    """
    if not isinstance(d, Mapping):
        raise ConfigError(f"{section}: expected a table of settings, got {short_repr(d)}")
    hints = typing.get_type_hints(cls)
    return {f.name: check_value(hints[f.name], d[f.name], f"{section}.{f.name}")
            for f in dataclasses.fields(cls) if f.name in d}


class DictConfig:
    """Mixin for frozen dataclasses: ``to_dict`` for JSON, ``from_dict`` checking every known value
    and ignoring unknown keys, so that a model saved by a newer snnapp with an extra setting still
    loads here."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], d: dict[str, Any], section: str | None = None) -> T:
        section = section or cls.__name__
        values = checked_fields(cls, d, section)
        try:
            return cls(**values)
        except ConfigError:
            raise  # the class's own checks name the setting
        except (TypeError, ValueError, OverflowError) as exc:
            raise ConfigError(f"{section}: {exc}") from None

    @classmethod
    def from_saved(cls: type[T], d: dict[str, Any], section: str | None = None) -> T:
        """:meth:`from_dict` for a config a model was saved with: a setting it lacks that declares
        ``absent`` takes that value, so that a model made before the setting existed behaves as then."""
        if isinstance(d, Mapping):
            d = dict(d)
            for f in dataclasses.fields(cls):  # type: ignore[arg-type]
                info = setting_info(f)
                if f.name not in d and info is not None and info.absent is not NOT_SET:
                    d[f.name] = info.absent
        return cls.from_dict(d, section)
