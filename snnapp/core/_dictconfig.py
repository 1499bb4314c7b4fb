"""Frozen settings dataclasses that go to and from ``config.json``.

Values read from a file are checked against the field's annotation before the dataclass is
built: a string where a number belongs, NaN or infinity, a float that is not a whole number for
an integer setting, or a list of junk each give a :class:`ConfigError` naming the setting, not a
``TypeError`` from deep inside (or, worse, a model that loads and then misbehaves).
"""

from __future__ import annotations

import dataclasses
import math
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


def check_value(annotation: Any, value: Any, where: str) -> Any:
    """``value`` checked against ``annotation`` (and converted: lists to tuples, whole floats to ints)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        if any(type(value) is type(a) and value == a for a in args):
            return value
        raise ConfigError(f"{where}: unknown {where.rsplit('.', 1)[-1]} {short_repr(value)}; "
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
