"""Search spaces: which training settings a study varies, over which ranges, and on which grid.

A space is plain data so that it can be stored with the study (a resumed study must search the
same space) and read from a TOML or YAML file. A parameter or fixed setting is named as the
training settings are (:mod:`snnapp.core.training._settings`): by full name (``network.beta``,
``audio.deltas``, ``lr``) or short name (``beta``, ``deltas``); two more names set several
settings at once (:data:`COMPOUND_PARAMS`).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from snnapp.core.errors import ConfigError, Hint

#: Names that set several settings: ``hidden`` the width of the mode's hidden layers (depth
#: kept), ``encoder`` the encoder of each branch the mode has. Their values are a number and a word.
COMPOUND_PARAMS: dict[str, str] = {"hidden": "int", "encoder": "word"}
#: Settings a study sets itself (epochs per trial, its seed and example limit), and the mode.
STUDY_SETTINGS = ("epochs", "seed", "limit", "mode")
KINDS = ("float", "int", "categorical")
#: Most choices or grid values one parameter may list, and most points a grid may have.
MAX_VALUES = 1000
MAX_GRID_POINTS = 100_000
#: Bound of an integer range: beyond it values stop being exact as floats.
MAX_INT = 2**53


def _number(v: Any) -> bool:
    """A finite real number (not a bool), within float range."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer beyond any float
        return False


def _short(v: Any) -> str:
    from snnapp.core._dictconfig import short_repr

    return short_repr(v)


def value_kind(name: str, what: str = "search parameter") -> str:
    """What the values of space name ``name`` are: ``number``, ``word`` or ``bool``; a name a
    space cannot set is one :class:`ConfigError` beginning with ``what``."""
    if name in COMPOUND_PARAMS:
        return "number" if COMPOUND_PARAMS[name] == "int" else "word"
    from snnapp.core.training import lookup

    if name in STUDY_SETTINGS:
        raise ConfigError(f"{what} {name}: set by the study itself (its epochs per trial, seed, example limit and "
                          "mode), not by its space")
    try:
        kind = lookup(name, what).kind
    except ConfigError as exc:  # "WHAT: unknown setting NAME[; the SECTION settings are ...]"
        detail = str(exc).partition("unknown setting ")[2] or name
        raise ConfigError(f"unknown {what} {detail}; a space names training settings (network.beta, audio.deltas, "
                          f"lr, ...) or {' and '.join(COMPOUND_PARAMS)}") from None
    return {"int": "number", "float": "number", "bool": "bool"}.get(kind, "word")


def _setting_kind(name: str) -> str | None:
    """The kind of the setting ``name`` sets (``Setting.kind``), or None for a compound or unknown name."""
    from snnapp.core.training import lookup

    try:
        return lookup(name, "space").kind
    except ConfigError:
        return None


def _target(name: str) -> str:
    """The full name of the setting a space name sets (itself for a compound or unknown name)."""
    from snnapp.core.training import lookup

    if name in COMPOUND_PARAMS or name in STUDY_SETTINGS:
        return name
    try:
        return lookup(name, "space").name
    except ConfigError:
        return name  # refused with its own line where it is checked


_WORDS = {"number": "finite numbers", "word": "words or finite numbers", "bool": "true or false"}


def _values(name: str, what: str, values: Any, kind: str) -> tuple[Any, ...]:
    """``values`` (choices or grid) as a tuple of scalars, or :class:`ConfigError`."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise ConfigError(f"parameter {name}: {what} must be a list, got {_short(values)}")
    if len(values) > MAX_VALUES:
        raise ConfigError(f"parameter {name}: {len(values)} {what} values; at most {MAX_VALUES}")
    for v in values:
        ok = _number(v) if kind == "number" else isinstance(v, bool) if kind == "bool" else \
            isinstance(v, str) or _number(v)
        if not ok:
            raise ConfigError(f"parameter {name}: {what} values must be {_WORDS[kind]}, got {_short(v)}")
    return tuple(values)


@dataclass(frozen=True)
class Param:
    """One searched setting: a range (float or int, optionally log) or a list of choices."""

    name: str
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    #: The values grid search tries; empty means grid search cannot use this parameter.
    grid: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ConfigError(f"unknown search parameter {_short(self.name)}; parameters are named as settings are")
        values = value_kind(self.name)
        if not isinstance(self.kind, str) or self.kind not in KINDS:
            raise ConfigError(f"parameter {self.name}: unknown type {_short(self.kind)}; choose {', '.join(KINDS)}")
        if not isinstance(self.log, bool):
            raise ConfigError(f"parameter {self.name}: log must be true or false, got {_short(self.log)}")
        object.__setattr__(self, "choices", _values(self.name, "choices", self.choices, values))
        object.__setattr__(self, "grid", _values(self.name, "grid", self.grid, values))
        if self.kind == "categorical":
            if not self.choices:
                raise ConfigError(f"parameter {self.name}: a categorical parameter needs choices")
        elif values != "number":
            raise ConfigError(f"parameter {self.name}: takes {_WORDS[values]}; give choices, not a range")
        elif not (_number(self.low) and _number(self.high)) or not self.low <= self.high:  # type: ignore[operator]
            raise ConfigError(f"parameter {self.name}: needs finite numbers low <= high, got {_short(self.low)} "
                              f"and {_short(self.high)}")
        elif not math.isfinite(float(self.high) - float(self.low)):  # type: ignore[arg-type]
            raise ConfigError(f"parameter {self.name}: the range {self.low} to {self.high} is too wide")
        elif self.log and self.low <= 0:  # type: ignore[operator]
            raise ConfigError(f"parameter {self.name}: a log range needs low > 0, got {self.low}")
        elif self.kind == "int":
            for bound in (self.low, self.high):
                if not float(bound).is_integer() or abs(bound) > MAX_INT:  # type: ignore[arg-type]
                    raise ConfigError(f"parameter {self.name}: an integer range needs whole bounds within "
                                      f"+-2^53, got {_short(bound)}")
            object.__setattr__(self, "low", int(self.low))  # type: ignore[arg-type]
            object.__setattr__(self, "high", int(self.high))  # type: ignore[arg-type]
        for v in self.grid:
            if not self.contains(v):
                raise ConfigError(f"parameter {self.name}: grid value {v!r} lies outside its range")

    def contains(self, value: Any) -> bool:
        if self.kind == "categorical":
            return any(type(value) is type(c) and value == c or _number(value) and _number(c) and value == c
                       for c in self.choices)
        if self.kind == "int" and not (_number(value) and float(value).is_integer()):
            return False
        return _number(value) and self.low <= value <= self.high

    def distribution(self) -> optuna.distributions.BaseDistribution:
        if self.kind == "categorical":
            return optuna.distributions.CategoricalDistribution(self.choices)
        if self.kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)  # type: ignore[arg-type]
        return optuna.distributions.FloatDistribution(float(self.low), float(self.high), log=self.log)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.kind}
        if self.kind == "categorical":
            d["choices"] = list(self.choices)
        else:
            d.update(low=self.low, high=self.high, log=self.log)
        if self.grid:
            d["grid"] = list(self.grid)
        return d

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> Param:
        if not isinstance(d, Mapping):
            raise ConfigError(f"parameter {_short(name)}: expected a table with low/high or choices")
        unknown = set(d) - _PARAM_KEYS
        if unknown:
            raise ConfigError(f"parameter {_short(name)}: unknown keys {', '.join(sorted(map(_short, unknown)))}")
        if "type" in d:
            kind = d["type"]
        else:
            kind = "categorical" if "choices" in d else "int" if all(
                isinstance(d.get(k), int) and not isinstance(d.get(k), bool) for k in ("low", "high")) else "float"
        return cls(name, kind, d.get("low"), d.get("high"), d.get("log", False),
                   d.get("choices", ()), d.get("grid", ()))


@dataclass(frozen=True)
class SearchSpace:
    """The searched parameters plus fixed settings that every trial of the study shares."""

    params: tuple[Param, ...]
    fixed: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.params:
            raise ConfigError("the search space is empty: give at least one parameter")
        if not isinstance(self.fixed, Mapping):
            raise ConfigError(f"fixed settings must be a table, got {_short(self.fixed)}")
        for key, value in self.fixed.items():
            if not isinstance(key, str):
                raise ConfigError(f"fixed setting {_short(key)}: names are words")
            items = value.values() if isinstance(value, Mapping) else value if isinstance(value, (list, tuple)) \
                else (value,)
            table = _setting_kind(key) == "table"  # only a table setting takes a table
            ok = len(items) <= 64 and all(v is None or isinstance(v, (bool, str)) or _number(v) for v in items) \
                and (not isinstance(value, Mapping) or table and all(isinstance(k, str) for k in value))
            if not ok or (key in ("correct_rate", "incorrect_rate") and not _number(value)):
                raise ConfigError(f"fixed setting {key}: expected a finite number, word, true/false or a short "
                                  f"list or table of them, got {_short(value)}")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ConfigError(f"the search space names a parameter twice: {', '.join(names)}")
        both = set(names) & set(self.fixed)
        if both:
            raise ConfigError(f"{', '.join(sorted(both))}: both searched and fixed")
        seen: dict[str, str] = {}
        for name in [*names, *self.fixed]:
            target = _target(name)
            if target in seen:
                raise ConfigError(f"{seen[target]} and {name} name the same setting")
            seen[target] = name
        hi_c = _bound(self.get("correct_rate"), max, self.fixed.get("correct_rate", 0.8))
        lo_i = _bound(self.get("incorrect_rate"), min, self.fixed.get("incorrect_rate", 0.2))
        if lo_i >= hi_c:
            raise ConfigError(f"contradictory space: the incorrect rate (from {lo_i}) is never below "
                              f"the correct rate (up to {hi_c})")

    def get(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        return {p.name: p.distribution() for p in self.params}

    def grid(self) -> dict[str, list[Any]]:
        """The Cartesian grid for GridSampler; every parameter must have grid values."""
        missing = [p.name for p in self.params if not p.grid]
        if missing:
            raise ConfigError(f"grid search needs values for {', '.join(missing)}", hint=Hint("grid", "NAME=v1,v2"))
        grid = {p.name: list(p.grid) for p in self.params}
        points = math.prod(len(v) for v in grid.values())
        if points > MAX_GRID_POINTS:
            raise ConfigError(f"the grid has {points:,} points; at most {MAX_GRID_POINTS:,} (give fewer values)")
        rates = {k: v for k, v in grid.items() if k in ("correct_rate", "incorrect_rate")}
        if not any(feasible(dict(zip(rates, combo)), self.fixed) for combo in itertools.product(*rates.values())):
            raise ConfigError("contradictory grid: no point has an incorrect rate below its correct rate")
        return grid

    def with_grid(self, values: Mapping[str, Sequence[Any]]) -> SearchSpace:
        """This space with the grid values of some parameters replaced (``--grid NAME=...``)."""
        unknown = set(values) - set(self.names)
        if unknown:
            raise ConfigError(f"grid values are given for {', '.join(sorted(unknown))}, which the space does not search")
        params = tuple(Param(p.name, p.kind, p.low, p.high, p.log, p.choices, tuple(values[p.name]))
                       if p.name in values else p for p in self.params)
        return SearchSpace(params, dict(self.fixed))

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Ask the trial for a value of every parameter (fixed ranges, so every sampler can model them)."""
        out: dict[str, Any] = {}
        for p in self.params:
            if p.kind == "categorical":
                out[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            elif p.kind == "int":
                out[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)  # type: ignore[arg-type]
            else:
                out[p.name] = trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log)  # type: ignore[arg-type]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"params": {p.name: p.to_dict() for p in self.params}, "fixed": dict(self.fixed)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSpace:
        """A space from plain data (a parsed TOML or YAML file); anything else is :class:`ConfigError`."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"space: expected a table with 'params' (and optionally 'fixed'), got {_short(d)}")
        unknown = set(d) - {"params", "fixed"}
        if unknown:
            raise ConfigError(f"space: unknown sections {', '.join(sorted(map(_short, unknown)))}; "
                              "expected params and fixed")
        params = d.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError("space: 'params' must be a table of parameter name -> range")
        fixed = d.get("fixed") or {}
        if not isinstance(fixed, Mapping):
            raise ConfigError(f"space: 'fixed' must be a table of setting name -> value, got {_short(fixed)}")
        params, fixed = _flat(params, True), _flat(fixed, False)
        return cls(tuple(Param.from_dict(k, v) for k, v in params.items()), dict(fixed))


_PARAM_KEYS = {"type", "low", "high", "log", "choices", "grid"}


def _flat(table: Mapping[str, Any], params: bool) -> dict[str, Any]:
    """A space's ``params`` or ``fixed`` with section tables flattened into full names, so that
    ``[params.network.beta]`` and ``[fixed.audio]`` mean ``network.beta`` and ``audio.*``."""
    from snnapp.core.training._settings import SECTIONS

    out: dict[str, Any] = {}
    for key, value in table.items():
        nested = key in SECTIONS and isinstance(value, Mapping) and not (params and set(value) & _PARAM_KEYS)
        for name, v in (((f"{key}.{k}", v) for k, v in value.items()) if nested else ((key, value),)):
            if name in out:
                raise ConfigError(f"space: {_short(name)} is given twice")
            out[name] = v
    return out


def feasible(values: dict[str, Any], fixed: dict[str, Any]) -> bool:
    """Whether a point keeps the incorrect rate below the correct rate (the loss needs it)."""
    c = values.get("correct_rate", fixed.get("correct_rate", 0.8))
    i = values.get("incorrect_rate", fixed.get("incorrect_rate", 0.2))
    return bool(i < c)


def _bound(p: Param | None, pick: Any, default: float) -> float:
    if p is None:
        return float(default)
    if p.kind == "categorical":
        return float(pick(p.choices))
    return float(pick(p.low, p.high))
