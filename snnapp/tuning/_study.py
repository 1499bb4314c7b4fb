"""Run a study: open or resume it, optimise, and keep the best trial's model, tested once
(:mod:`._keep`).

``trials`` is the study's total of finished trials, not this process's share: running the same
command again resumes a study, and several workers on one storage stop together at the total.
A worker starts a trial only while the finished trials and those running elsewhere fall short of
the total; otherwise it waits, and takes over when a running trial fails (its worker killed), so
that the study ends with exactly the total whatever happens to the workers.
"""

from __future__ import annotations

import copy
import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import platformdirs
from optuna.trial import FrozenTrial, TrialState

from snnapp.core.errors import ConfigError, Hint, SnnappError

from . import _optuna_compat as compat
from ._defaults import base_config, check_fixed, check_trial_configs, default_space
from ._keep import FINISHED, keep_best
from ._methods import get_method
from ._objective import ACTIVITY, Objective, SurplusTrial
from ._paths import claim_study_folder, study_file_name
from ._pruning import make_pruner
from ._redact import redact
from ._space import SearchSpace
from ._storage import WAIT_S, check_same_study, normalise, open_storage, storage_error, study_attrs

OBJECTIVES = ("accuracy", *ACTIVITY)
log = logging.getLogger("snnapp.tuning")


@dataclass(frozen=True)
class TuneSettings:
    """Everything ``snnapp tune`` is asked for; the first block is fixed for the life of a study."""

    mode: str
    method: str = "bayes"
    sampler: str | None = None
    space: SearchSpace | None = None
    epochs_per_trial: int = 3
    train_fraction: float = 1.0
    limit: int | None = None
    seed: int = 0
    objectives: tuple[str, ...] = ("accuracy",)
    # free to change between runs of the same study
    trials: int | None = None
    timeout: float | None = None
    pruner: str | None = None
    storage: str | None = None
    study: str | None = None
    out: Path | None = None
    device: str = "auto"
    heartbeat_s: int = 10
    grace_s: int = 30
    storage_wait_s: float = WAIT_S
    test: bool = True

    @property
    def study_name(self) -> str:
        return self.study or f"{self.mode}-{self.method}"


@dataclass
class TuneOutcome:
    study: str
    storage: str
    finished: int
    best: dict[str, Any] = field(default_factory=dict)
    test_accuracy: float | None = None
    best_model_dir: Path | None = None
    #: ``host:folder`` of the best model when a worker on another machine trained and keeps it.
    best_model_elsewhere: str | None = None


def trials_root(settings: TuneSettings) -> Path:
    """Folder of the study's trial models: the one asked for, or ``<user data>/studies/<study>``
    (the study's name made a safe file name: it never leads outside that folder)."""
    if settings.out:
        return settings.out
    return Path(platformdirs.user_data_dir("snnapp")) / "studies" / study_file_name(settings.study_name)


def _check(settings: TuneSettings) -> SearchSpace:
    bad = [o for o in settings.objectives if o not in OBJECTIVES]
    if bad or not settings.objectives or settings.objectives[0] != "accuracy" or len(settings.objectives) > 2:
        raise ConfigError(f"objectives: give 'accuracy' or 'accuracy,spikes' or 'accuracy,synops', "
                          f"got {','.join(settings.objectives)!r}")
    if not 0.0 < settings.train_fraction <= 1.0:
        raise ConfigError(f"train fraction must lie in (0, 1], got {settings.train_fraction}")
    if settings.epochs_per_trial < 1:
        raise ConfigError("epochs per trial must be at least 1")
    space = settings.space or default_space(settings.mode)
    check_fixed(space.fixed)
    _check_method(settings, space)
    check_trial_configs(base_config(settings.mode, settings.epochs_per_trial, settings.seed), space)
    return space


def _check_method(settings: TuneSettings, space: SearchSpace) -> None:
    """The method can search this space for these objectives (errors before anything is stored)."""
    method = get_method(settings.method, settings.sampler)
    if len(settings.objectives) > 1 and not method.multi_objective:
        raise ConfigError(f"{method.name} optimises one objective", hint=Hint("objectives", "bayes, random or grid"))
    if settings.method == "grid":
        space.grid()  # errors about the grid


def _sampler_seed(seed: int, created: bool, study: optuna.Study) -> int:
    # the process that creates a study samples reproducibly from --seed; other workers and resumed
    # runs draw their own seed so that parallel workers do not propose the same points
    if created:
        return seed
    return int(np.random.SeedSequence([seed, os.getpid(), len(study.trials)]).generate_state(1)[0])


def open_study(settings: TuneSettings, space: SearchSpace,
               check_folder: Callable[[], object] | None = None) -> tuple[optuna.Study, bool]:
    """Create the study or resume it after checking it was run with the same fixed settings;
    ``check_folder`` is called once the storage is open, before anything is stored in it."""
    method = get_method(settings.method, settings.sampler)
    _check_method(settings, space)
    storage = open_storage(settings.storage, heartbeat_s=settings.heartbeat_s, grace_s=settings.grace_s,
                           wait_s=settings.storage_wait_s)
    if check_folder is not None:
        check_folder()
    wanted = {"mode": settings.mode, "method": method.label, "objectives": list(settings.objectives),
              "epochs_per_trial": settings.epochs_per_trial, "train_fraction": settings.train_fraction,
              "limit": settings.limit, "seed": settings.seed, "space": space.to_json()}
    name = settings.study_name
    stored = study_attrs(storage, name)
    # maximise accuracy (always the first objective), minimise the activity that may follow it
    directions: list[Literal["maximize", "minimize"]] = ["maximize" if i == 0 else "minimize"
                                                         for i in range(len(settings.objectives))]
    pruner = make_pruner(settings.pruner or method.default_pruner, settings.epochs_per_trial)
    created = False
    if stored is None:
        try:
            optuna.create_study(storage=storage, study_name=name, directions=directions)
            created = True
        except optuna.exceptions.DuplicatedStudyError:
            pass  # another worker created it a moment ago
        if created:
            sid = storage.get_study_id_from_name(name)
            for key, value in {**wanted, "pruner": settings.pruner or method.default_pruner,
                               "out": str(trials_root(settings))}.items():
                storage.set_study_user_attr(sid, key, value)
    stored = _wait_for_attrs(storage, name)  # a study created a moment ago may not have its settings yet
    check_same_study(name, stored, wanted)
    study = optuna.load_study(study_name=name, storage=storage, pruner=pruner)
    study.sampler = method.sampler(space, _sampler_seed(settings.seed, created, study), len(directions))
    return study, created


def _wait_for_attrs(storage: optuna.storages.BaseStorage, name: str, wait_s: float = 10.0) -> dict[str, Any]:
    """The study's settings, waiting for the worker that created it a moment ago to write them."""
    deadline = time.monotonic() + wait_s
    while True:
        stored = study_attrs(storage, name) or {}
        if "space" in stored or time.monotonic() > deadline:
            return stored
        time.sleep(0.2)


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def run_study(settings: TuneSettings, data_dir: Path, *, cache_dir: Path | None = None,
              on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None, progress: Any = None) -> TuneOutcome:
    """Optimise until ``trials`` trials of the study have finished (or ``timeout``), then keep the best."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = _check(settings)
    # the folder of trial models belongs to this study: checked before anything is stored, tied to
    # the study (its marker written) once the storage has it
    study, _ = open_study(settings, space, lambda: claim_study_folder(
        trials_root(settings), settings.study_name, settings.storage, write=False))
    method = get_method(settings.method, settings.sampler)
    total = settings.trials if settings.trials is not None else method.default_trials(space)
    root = claim_study_folder(trials_root(settings), settings.study_name, settings.storage)
    objective = Objective(
        space=space, base=base_config(settings.mode, settings.epochs_per_trial, settings.seed), root=root,
        data_dir=data_dir, objectives=settings.objectives, train_fraction=settings.train_fraction,
        limit=settings.limit, prune=len(settings.objectives) == 1, device=settings.device, cache_dir=cache_dir,
        progress=progress, total=total)
    callbacks = [on_trial] if on_trial is not None else []
    try:
        optimize(study, objective, total, settings.timeout, callbacks, poll_s=min(1.0, settings.heartbeat_s))
        outcome = TuneOutcome(study.study_name, redact(normalise(settings.storage)), finished_count(study))
        keep_best(study, root, data_dir, outcome, settings, cache_dir)
    except Exception as exc:
        # Optuna may wrap the storage's error in one of its own while it cleans up: report the storage
        err = storage_error(exc)
        if err is None:
            raise
        raise err from None
    return outcome


def fail_stale(study: optuna.Study, total: int | None) -> int:
    """Mark the running trials of dead workers (heartbeat older than the grace period) failed.

    Each is retried once (a waiting copy with its parameters) while the study still needs trials;
    once it has its total, a retry would only linger. Returns how many trials were failed.
    """
    storage = compat.study_storage(study)
    if not compat.is_heartbeat_enabled(storage):
        return 0
    failed = []
    for trial_id in compat.stale_trial_ids(storage, compat.study_id(study)):
        try:
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker failed it a moment ago
    retry = storage.get_heartbeat_stale_trial_callback()  # type: ignore[attr-defined]
    for trial_id in failed:
        counted = len(study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING, TrialState.WAITING)))
        if retry is not None and (total is None or counted < total):
            retry(study, copy.deepcopy(storage.get_trial(trial_id)))
    return len(failed)


def optimize(study: optuna.Study, objective: Objective, total: int | None, timeout: float | None,
             callbacks: list[Callable[[optuna.Study, FrozenTrial], None]], poll_s: float = 1.0) -> None:
    """Run trials one at a time until the study has ``total`` finished trials, or ``timeout`` passes.

    Before each trial the trials of dead workers are failed. No trial starts while the finished
    trials and those running elsewhere make the total: the worker waits for them instead, and runs
    the trial that replaces one that fails. Two workers that start a trial at the same moment
    are settled by the trial numbers: the later one finds itself surplus and steps back at once.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    quiet = _QuietSurplus()
    optuna_log = logging.getLogger(compat.OPTIMIZE_LOGGER)  # a logger's filters see only its own records
    optuna_log.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            while True:
                fail_stale(study, total)
                trials = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
                finished = sum(t.state in FINISHED for t in trials)
                left_s = None if deadline is None else deadline - time.monotonic()
                if (total is not None and finished >= total) or (left_s is not None and left_s <= 0):
                    return
                if total is not None and len(trials) >= total:
                    time.sleep(poll_s if left_s is None else min(poll_s, left_s))
                    continue
                objective.current_id = None
                try:
                    study.optimize(objective, n_trials=1, timeout=left_s, callbacks=callbacks,
                                   catch=(SurplusTrial,), gc_after_trial=True)
                except KeyboardInterrupt:
                    raise StudyInterrupted(study.study_name, _requeue_interrupted(study, objective, total)) from None
                except ConfigError as exc:
                    # settings training refuses: every further trial would fail alike, so the study stops
                    raise ConfigError(f"study {study.study_name!r}: trial {objective.current} cannot train "
                                      f"({exc.problem}); the study is stopped", hint=exc.hints) from None
                except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as exc:
                    if not compat.is_tell_of_finished_trial(exc):
                        raise
                    # another worker found this trial's heartbeat late (a stalled machine) and failed it:
                    # its result cannot be stored, but the worker is fine and goes on with the next one
                    log.warning("trial %s was marked failed by another worker that found its heartbeat late; "
                                "its result is dropped, carrying on", objective.current)
                    continue
                if compat.study_stopped(study):  # a grid sampler that has run its whole grid
                    return
    finally:
        optuna_log.removeFilter(quiet)


class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C during a study; ``retry`` is the number of the interrupted trial where it is queued to
    run again (from its checkpoint) when the same command runs next."""

    def __init__(self, study: str, retry: int | None) -> None:
        super().__init__(study, retry)
        self.study, self.retry = study, retry


def _requeue_interrupted(study: optuna.Study, objective: Objective, total: int | None) -> int | None:
    """Queue the trial Ctrl-C stopped (Optuna has just failed it) to run again, with its parameters;
    its retry takes over its checkpoint. Returns its number, or None where no trial was stopped."""
    if objective.current_id is None:
        return None
    trial = compat.study_storage(study).get_trial(objective.current_id)
    if trial.state != TrialState.FAIL or not trial.user_attrs.get("interrupted"):
        return None
    counted = len(study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING, TrialState.WAITING)))
    if total is not None and counted >= total:
        return None  # the study has its trials without it
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        user_attrs={k: v for k, v in trial.user_attrs.items() if k != "interrupted"},
        system_attrs=compat.retry_attrs(trial),
        intermediate_values=trial.intermediate_values))
    return trial.number


class _QuietSurplus(logging.Filter):
    """Keeps Optuna from logging as a failure with a traceback a surplus trial (one that stepped back
    unrun), a trial failed meanwhile by another worker (which :func:`optimize` reports itself), or a
    trial ended by one of the project's errors or by Ctrl-C (which the command reports in one line)."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], (SurplusTrial, optuna.exceptions.UpdateFinishedTrialError,
                                                               SnnappError, KeyboardInterrupt)):
            number = compat.logged_trial(str(record.msg))
            if number is not None:
                self.numbers.add(number)
            return False
        return not any(compat.logs_failure(record.msg, n) for n in self.numbers)
