"""The objective: one trial = one call of the core's ``train`` in a folder of its own.

Data is loaded once per worker process and shared by its trials (the settings a study varies
never change the examples, only how they are encoded and learned). A trial retried after its
worker was killed continues from the dead trial's checkpoint instead of starting again.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from snnapp.core.examples import Examples, limit_examples, load_examples
from snnapp.core.training import TrainConfig, train

from . import _optuna_compat as compat
from ._defaults import make_config
from ._pruning import PruningProgress
from ._space import SearchSpace, feasible
from ._storage import worker_name

#: What a multi-objective study can minimise next to accuracy -> the validation metric it reads.
ACTIVITY = {"spikes": "spikes_per_sample", "synops": "synops_per_sample"}


class SurplusTrial(Exception):
    """A trial begun by two workers at the same moment when the study needed only one more: the later
    one (higher number) is not run, and ends failed with the user attribute ``surplus``."""

    def __init__(self, number: int) -> None:
        super().__init__(f"trial {number} not run: the study has its trials")
        self.number = number


def trial_dir(root: Path, number: int) -> Path:
    return root / f"trial-{number:04d}"


def checkpoint_dir(model_dir: Path) -> Path:
    """Where the core's ``train`` keeps the checkpoint of ``model_dir``."""
    return model_dir.with_name(model_dir.name + ".ckpt")


def is_checkpoint_folder(folder: Path) -> bool:
    """``folder`` is a checkpoint folder the core's ``train`` wrote (nothing in it but its checkpoint)."""
    from snnapp.core.training._trainer import _is_checkpoint_folder

    try:
        return folder.is_dir() and not folder.is_symlink() and _is_checkpoint_folder(folder)
    except OSError:
        return False


def remove_checkpoint(model_dir: Path) -> bool:
    """Remove the checkpoint folder of ``model_dir`` if it is one the project wrote (never anything
    else put there); returns whether none is left."""
    folder = checkpoint_dir(model_dir)
    if not (folder.exists() or folder.is_symlink()):
        return True
    if not is_checkpoint_folder(folder):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()


@dataclass
class Objective:
    """Callable for ``study.optimize``: sample, train, report, return validation metrics."""

    space: SearchSpace
    base: TrainConfig
    root: Path
    data_dir: Path
    objectives: tuple[str, ...] = ("accuracy",)
    train_fraction: float = 1.0
    limit: int | None = None
    prune: bool = True
    device: str = "auto"
    cache_dir: Path | None = None
    progress: Any = None
    total: int | None = None  # the study's total of finished trials
    current: int | None = None  # the number of the trial running (or last run) here
    current_id: int | None = None  # its id in the storage
    _examples: dict[tuple, tuple[Examples, Examples]] = field(default_factory=dict, repr=False)

    def examples(self, cfg: TrainConfig) -> tuple[Examples, Examples]:
        copies = cfg.audio_copies if cfg.augment else 0
        key = (cfg.mode, cfg.seed, cfg.val_fraction, copies, cfg.audio)
        if key not in self._examples:
            kw: dict[str, Any] = {"audio_cfg": cfg.audio, "val_fraction": cfg.val_fraction, "seed": cfg.seed,
                                  "cache_dir": self.cache_dir, "limit": self.limit}
            tr = load_examples(cfg.mode, "train", self.data_dir, audio_copies=copies, **kw)
            va = load_examples(cfg.mode, "val", self.data_dir, **kw)
            if self.train_fraction < 1.0:
                tr = limit_examples(tr, max(1, round(self.train_fraction * len(tr))))
            self._examples[key] = (tr, va)
        return self._examples[key]

    def config(self, values: dict[str, Any]) -> TrainConfig:
        return make_config(make_config(self.base, self.space.fixed), values)

    def _take_over(self, trial: optuna.Trial, folder: Path) -> bool:
        """A retry of a killed trial inherits its checkpoint; returns whether to resume."""
        me = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
        # the trial this one retries: the last of its history (a retry of a retry took over the checkpoint)
        dead = compat.retried_trial(me)
        if dead is None:
            return False
        old = checkpoint_dir(trial_dir(self.root, int(dead)))
        if not (old / "checkpoint.pt").exists() or not is_checkpoint_folder(old) or not remove_checkpoint(folder):
            return False
        old.rename(checkpoint_dir(folder))
        trial.set_user_attr("resumed_from", int(dead))
        return True

    def _surplus(self, trial: optuna.Trial) -> bool:
        """Whether the trials before this one, finished or running, already make the study's total."""
        if self.total is None:
            return False
        ahead = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                               optuna.trial.TrialState.PRUNED,
                                                               optuna.trial.TrialState.RUNNING))
        return sum(t.number < trial.number for t in ahead) >= self.total

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        self.current, self.current_id = trial.number, compat.trial_id(trial)
        try:
            return self._run(trial)
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)  # Ctrl-C: queued again (see optimize), not a failure
            raise

    def _run(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        if self._surplus(trial):
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(trial.number)
        trial.set_user_attr("worker", worker_name())
        values = self.space.suggest(trial)
        if not feasible(values, self.space.fixed):
            # a point the loss cannot use: costs nothing, and tells the sampler to look elsewhere
            trial.set_user_attr("infeasible", True)
            trial.set_user_attr("epochs_run", 0)
            raise optuna.TrialPruned("incorrect rate not below correct rate")
        cfg = self.config(values)
        folder = trial_dir(self.root, trial.number)
        resume = self._take_over(trial, folder)
        examples = self.examples(cfg)
        progress = PruningProgress(trial, self.prune, self.progress)
        t0 = time.perf_counter()
        try:
            result = train(cfg, folder, self.data_dir, device=self.device, resume=resume, progress=progress,
                           cache_dir=self.cache_dir, examples=examples)
        except optuna.TrialPruned:
            remove_checkpoint(folder)
            raise
        finally:
            trial.set_user_attr("epochs_run", progress.epochs_run)
            trial.set_user_attr("train_time_s", round(time.perf_counter() - t0, 3))
        remove_checkpoint(folder)
        val = result.metrics["val"]
        trial.set_user_attr("epochs_run", result.metrics["epochs_run"])
        trial.set_user_attr("val_accuracy", val["accuracy"])
        for key in ACTIVITY.values():
            trial.set_user_attr(key, val[key])
        trial.set_user_attr("model_dir", str(folder))
        scores = [float(val["accuracy"])] + [float(val[ACTIVITY[o]]) for o in self.objectives[1:]]
        return scores[0] if len(scores) == 1 else tuple(scores)
