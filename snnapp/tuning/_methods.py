"""Search methods as pluggable strategies: each turns a space into an Optuna sampler.

A new method is one subclass of :class:`SearchMethod` registered in :data:`METHODS`; the study
code never asks which method it runs.
"""

from __future__ import annotations

from typing import ClassVar

import optuna

from snnapp.core.errors import ConfigError, Hint

from ._space import SearchSpace


class SearchMethod:
    """How the next trial's settings are chosen."""

    name: ClassVar[str] = ""
    #: Whether the method can search for a Pareto front of several objectives.
    multi_objective: ClassVar[bool] = True
    #: The pruner used when none is asked for: grid compares methods fairly, so it prunes nothing.
    default_pruner: ClassVar[str] = "median"

    def __init__(self, sampler: str | None = None) -> None:
        if sampler is not None:
            raise ConfigError(f"a sampler applies to bayes only, not to {self.name}", hint=Hint("sampler"))
        self.sampler_name: str | None = sampler

    @property
    def label(self) -> str:
        """The name shown in reports, e.g. ``bayes (gp)``."""
        return self.name

    def default_trials(self, space: SearchSpace) -> int | None:
        """How many trials to run when ``--trials`` is not given (None: until the timeout)."""
        return 20

    def sampler(self, space: SearchSpace, seed: int | None, n_objectives: int) -> optuna.samplers.BaseSampler:
        raise NotImplementedError


class GridMethod(SearchMethod):
    name = "grid"
    default_pruner = "none"

    def default_trials(self, space: SearchSpace) -> int | None:
        size = 1
        for values in space.grid().values():
            size *= len(values)
        return size

    def sampler(self, space: SearchSpace, seed: int | None, n_objectives: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.GridSampler(space.grid(), seed=seed)


class RandomMethod(SearchMethod):
    name = "random"

    def sampler(self, space: SearchSpace, seed: int | None, n_objectives: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)


class BayesMethod(SearchMethod):
    """Bayesian optimisation: TPE by default, Optuna's Gaussian-process sampler with ``gp``."""

    name = "bayes"
    SAMPLERS: ClassVar[tuple[str, ...]] = ("tpe", "gp")

    def __init__(self, sampler: str | None = None) -> None:
        sampler = sampler or "tpe"
        if sampler not in self.SAMPLERS:
            raise ConfigError(f"unknown sampler {sampler!r} for bayes; choose {' or '.join(self.SAMPLERS)}")
        self.sampler_name = sampler

    @property
    def label(self) -> str:
        return f"bayes ({self.sampler_name})"

    def sampler(self, space: SearchSpace, seed: int | None, n_objectives: int) -> optuna.samplers.BaseSampler:
        if self.sampler_name == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        # multivariate TPE models the correct and incorrect rates jointly; few startup trials
        # because every trial is a training run.
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=5)


class CmaesMethod(SearchMethod):
    """CMA-ES: an evolution strategy over the numeric parameters (categorical ones sampled at random)."""

    name = "cmaes"
    multi_objective = False

    def sampler(self, space: SearchSpace, seed: int | None, n_objectives: int) -> optuna.samplers.BaseSampler:
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError("cmaes needs the 'cmaes' package: pip install cmaes") from None
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


METHODS: dict[str, type[SearchMethod]] = {m.name: m for m in (GridMethod, RandomMethod, BayesMethod, CmaesMethod)}


def get_method(name: str, sampler: str | None = None) -> SearchMethod:
    """The method called ``name``; a clear error for unknown names."""
    try:
        cls = METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None
    return cls(sampler)
