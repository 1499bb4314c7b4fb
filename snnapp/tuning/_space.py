"""Search spaces: which training settings a study varies, over which ranges, and on which grid.

A space is plain data so that it can be stored with the study (a resumed study must search the
same space) and read from a TOML or YAML file. Names are the training settings they set; see
:data:`PARAM_TARGETS` for the list.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from snnapp.core.errors import ConfigError

#: Every name a space may vary, and where it goes: the training settings, the network, or the
#: encoder of one branch. ``hidden`` sets the width of the mode's hidden layers (depth kept).
PARAM_TARGETS: dict[str, str] = {
    "lr": "train", "correct_rate": "train", "incorrect_rate": "train", "weight_decay": "train",
    "batch_size": "train", "beta": "network", "threshold": "network", "slope": "network",
    "num_steps": "network", "dropout": "network", "hidden": "network", "encoder": "encoder",
}
KINDS = ("float", "int", "categorical")


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
        if self.name not in PARAM_TARGETS:
            raise ConfigError(f"unknown search parameter {self.name!r}; choose from {', '.join(PARAM_TARGETS)}")
        if self.kind not in KINDS:
            raise ConfigError(f"parameter {self.name}: unknown type {self.kind!r}; choose {', '.join(KINDS)}")
        if self.kind == "categorical":
            if not self.choices:
                raise ConfigError(f"parameter {self.name}: a categorical parameter needs choices")
        elif self.low is None or self.high is None or not self.low <= self.high:
            raise ConfigError(f"parameter {self.name}: needs low <= high, got {self.low} and {self.high}")
        elif self.log and self.low <= 0:
            raise ConfigError(f"parameter {self.name}: a log range needs low > 0, got {self.low}")
        for v in self.grid:
            if not self.contains(v):
                raise ConfigError(f"parameter {self.name}: grid value {v!r} lies outside its range")

    def contains(self, value: Any) -> bool:
        if self.kind == "categorical":
            return value in self.choices
        return isinstance(value, (int, float)) and self.low <= value <= self.high  # type: ignore[operator]

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
        if not isinstance(d, dict):
            raise ConfigError(f"parameter {name}: expected a table with low/high or choices")
        unknown = set(d) - {"type", "low", "high", "log", "choices", "grid"}
        if unknown:
            raise ConfigError(f"parameter {name}: unknown keys {', '.join(sorted(unknown))}")
        kind = d.get("type") or ("categorical" if "choices" in d else
                                 "int" if all(isinstance(d.get(k), int) and not isinstance(d.get(k), bool)
                                              for k in ("low", "high")) else "float")
        return cls(name, kind, d.get("low"), d.get("high"), bool(d.get("log", False)),
                   tuple(d.get("choices", ())), tuple(d.get("grid", ())))


@dataclass(frozen=True)
class SearchSpace:
    """The searched parameters plus fixed settings that every trial of the study shares."""

    params: tuple[Param, ...]
    fixed: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.params:
            raise ConfigError("the search space is empty: give at least one parameter")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ConfigError(f"the search space names a parameter twice: {', '.join(names)}")
        both = set(names) & set(self.fixed)
        if both:
            raise ConfigError(f"{', '.join(sorted(both))}: both searched and fixed")
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
            raise ConfigError(f"grid search needs values for {', '.join(missing)}: give --grid NAME=v1,v2 "
                              "or 'grid = [...]' in the space file")
        grid = {p.name: list(p.grid) for p in self.params}
        if not any(feasible(dict(zip(grid, combo)), self.fixed) for combo in itertools.product(*grid.values())):
            raise ConfigError("contradictory grid: no point has an incorrect rate below its correct rate")
        return grid

    def with_grid(self, values: dict[str, Sequence[Any]]) -> SearchSpace:
        """This space with the grid values of some parameters replaced (``--grid NAME=...``)."""
        unknown = set(values) - set(self.names)
        if unknown:
            raise ConfigError(f"--grid names {', '.join(sorted(unknown))}, which the space does not search")
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
        unknown = set(d) - {"params", "fixed"}
        if unknown:
            raise ConfigError(f"space: unknown sections {', '.join(sorted(unknown))}; expected params and fixed")
        params = d.get("params") or {}
        if not isinstance(params, dict):
            raise ConfigError("space: 'params' must be a table of parameter name -> range")
        return cls(tuple(Param.from_dict(k, v) for k, v in params.items()), dict(d.get("fixed") or {}))


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
