"""The end of a study: the best trial's model kept at ``<root>/best`` and tested once, the other
trials' models and the checkpoints no trial will resume removed, one worker at a time.

Only what the project wrote is removed: model folders at a trial's name, checkpoint folders.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from . import _optuna_compat as compat
from ._objective import remove_checkpoint, trial_dir
from ._storage import worker_name

if TYPE_CHECKING:
    from ._study import TuneOutcome, TuneSettings

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best finished trial; in a multi-objective study, the most accurate of the Pareto front."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not done:
        return None
    if len(study.directions) == 1:
        return study.best_trial
    return max(study.best_trials, key=lambda t: (t.values[0], -t.values[1]))


def keep_best(study: optuna.Study, root: Path, data_dir: Path, outcome: TuneOutcome, settings: TuneSettings,
              cache_dir: Path | None) -> None:
    """Copy the best trial's model to ``<root>/best``, test it once, and drop the other trial models.

    Workers of one study end together: one at a time does this (a lock on ``root``), and the
    others find the best model already kept and tested.
    """
    with _locked(root):
        _drop_checkpoints(study, root)
        _keep_best(study, root, data_dir, outcome, settings, cache_dir)


def _drop_checkpoints(study: optuna.Study, root: Path) -> None:
    """Remove the checkpoints no trial will resume: those of trials that ended (an interrupted or
    killed trial whose retry already ran, or was never queued). Those of running and waiting
    trials, and of the trials they retry, stay; so does anything that is not a checkpoint folder."""
    trials = study.get_trials(deepcopy=False)
    pending: set[int] = set()
    for t in trials:
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            pending.add(t.number)
            pending.update(compat.retry_history(t))
    for t in trials:
        if t.number not in pending:
            remove_checkpoint(trial_dir(root, t.number))


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` between processes (where the system has ``flock``)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): workers sharing a study's folder there are not supported
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _keep_best(study: optuna.Study, root: Path, data_dir: Path, outcome: TuneOutcome, settings: TuneSettings,
               cache_dir: Path | None) -> None:
    from snnapp.core.evaluation import evaluate_model
    from snnapp.core.modelio import _make_temp_folder, disk_error, is_model_folder, replace_folder, update_metrics

    best = best_trial(study)
    if best is None:
        return
    outcome.best = {"trial": best.number, "params": best.params, "values": best.values}
    target = root / "best"
    attrs = study.user_attrs
    if attrs.get("test_trial") == best.number and (target / "config.json").exists():
        outcome.test_accuracy, outcome.best_model_dir = attrs.get("test_accuracy"), target
        _drop_others(study, root, best)
        return
    source = trial_dir(root, best.number)
    if not (source / "config.json").exists():
        # trained by a worker on another machine: that worker keeps and tests it, and says so in the study
        kept = attrs.get("best_model_at") if attrs.get("best_trial") == best.number else None
        host = str(best.user_attrs.get("worker", "another machine")).rsplit(":", 1)[0]
        outcome.best_model_elsewhere = kept or f"{host}:{best.user_attrs.get('model_dir', '?')}"
        if attrs.get("test_trial") == best.number:
            outcome.test_accuracy = attrs.get("test_accuracy")
        return
    tmp = _make_temp_folder(target)
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        replace_folder(tmp, target, is_model_folder)  # only a model folder is ever replaced at best/
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise disk_error(target, exc) from exc
        raise
    outcome.best_model_dir = target
    study.set_user_attr("best_model_dir", str(target))
    study.set_user_attr("best_model_at", f"{worker_name().rsplit(':', 1)[0]}:{target}")
    study.set_user_attr("best_trial", best.number)
    metrics: dict[str, Any] = {"tuning": {"study": study.study_name, "storage": outcome.storage, "trial": best.number,
                                          "params": best.params, "method": study.user_attrs.get("method")}}
    if settings.test:
        res = evaluate_model(target, "test", data_dir, device=settings.device, cache_dir=cache_dir)
        outcome.test_accuracy = float(res["accuracy"])
        metrics["test"] = {k: v for k, v in res.items() if k not in ("model", "mode", "split")}
    update_metrics(target, metrics, card=True)  # metrics and card in one step
    if settings.test:
        study.set_user_attr("test_accuracy", outcome.test_accuracy)
        study.set_user_attr("test_trial", best.number)
    _drop_others(study, root, best)


def _drop_others(study: optuna.Study, root: Path, best: FrozenTrial) -> None:
    """Delete the models of finished trials other than the best (or the Pareto front): only model
    folders the project wrote; anything else found at a trial's name is left alone."""
    from snnapp.core.modelio import is_model_folder

    keep = {t.number for t in (study.best_trials if len(study.directions) > 1 else [best])}
    for t in study.get_trials(deepcopy=False, states=FINISHED):
        folder = trial_dir(root, t.number)
        if t.number not in keep and not folder.is_symlink() and is_model_folder(folder):
            shutil.rmtree(folder, ignore_errors=True)
