"""Pruning and the report, on studies built by hand (no training): saved compute, notes, CSV, plots."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import optuna
import pytest

from snnapp.tuning import (
    PruningProgress,
    SearchSpace,
    summarize,
    to_csv,
    to_markdown,
    write_plots,
)


def _study(directions=("maximize",), loss="mse_rate") -> optuna.Study:
    study = optuna.create_study(directions=list(directions))
    space = SearchSpace.from_dict({"params": {"lr": {"low": 1e-4, "high": 1e-2, "log": True},
                                              "correct_rate": {"low": 0.5, "high": 1.0}},
                                   "fixed": {"loss": loss, "num_steps": 4}})
    for key, value in {"mode": "image", "method": "random", "epochs_per_trial": 4, "space": space.to_json(),
                       "objectives": ["accuracy", "spikes"][:len(directions)]}.items():
        study.set_user_attr(key, value)
    return study


def _fill(study: optuna.Study, n: int = 8) -> None:
    for i in range(n):
        t = study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
                       "correct_rate": optuna.distributions.FloatDistribution(0.5, 1.0)})
        t.set_user_attr("train_time_s", 1.0)
        if i % 3 == 2:
            t.set_user_attr("epochs_run", 1)  # pruned after its first of four epochs
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            t.set_user_attr("epochs_run", 4)
            acc = 0.5 + 0.05 * i
            study.tell(t, acc if len(study.directions) == 1 else (acc, 100.0 - i))


class _Trial:
    def __init__(self, prune_at: int) -> None:
        self.prune_at, self.reports, self.user_attrs = prune_at, [], {}

    def report(self, value: float, step: int) -> None:
        self.reports.append((step, value))

    def should_prune(self) -> bool:
        return len(self.reports) > self.prune_at

    def set_user_attr(self, key, value) -> None:
        self.user_attrs[key] = value


def test_pruning_progress_reports_validation_accuracy_and_prunes():
    trial = _Trial(prune_at=1)
    p = PruningProgress(trial, prune=True)  # type: ignore[arg-type]
    p.epoch_end(0, {"val_accuracy": 0.3})
    with pytest.raises(optuna.TrialPruned):
        p.epoch_end(1, {"val_accuracy": 0.31})
    assert trial.reports == [(0, 0.3), (1, 0.31)] and trial.user_attrs["epochs_run"] == 2
    quiet = PruningProgress(_Trial(prune_at=0), prune=False)  # type: ignore[arg-type]
    quiet.epoch_end(0, {"val_accuracy": 0.1})  # multi-objective studies never prune
    assert quiet.epochs_run == 1


def test_report_counts_trials_and_compute_saved_by_pruning():
    study = _study()
    _fill(study)
    row = summarize(study)
    assert (row.complete, row.pruned, row.failed) == (6, 2, 0)
    assert row.epochs_saved == 2 * 3 and row.epochs_run == 6 * 4 + 2 * 1
    assert row.saved_fraction == pytest.approx(6 / 32)
    assert row.val_accuracy == pytest.approx(0.5 + 0.05 * 7) and row.compute_s == 8.0
    md = to_markdown([row])
    assert md.startswith("| study | mode | method | lr | correct_rate | val accuracy")
    parsed = list(csv.DictReader(io.StringIO(to_csv([row]))))
    assert parsed[0]["epochs saved by pruning"] == "6" and parsed[0]["trials"] == "8"


def test_report_says_when_mse_count_truncates_the_rates():
    study = _study(loss="mse_count")
    _fill(study, 2)
    notes = " ".join(summarize(study).notes)
    assert "truncates targets to whole spikes" in notes and "x 4 steps" in notes


def test_multi_objective_report_and_plots(tmp_path: Path):
    study = _study(directions=("maximize", "minimize"))
    _fill(study)
    row = summarize(study)
    assert row.pareto >= 1 and row.activity is not None
    assert "Pareto front of accuracy vs spikes" in to_markdown([row])
    written, skipped = write_plots(study, tmp_path)
    names = {p.name for p in written}
    assert {f"{study.study_name}_pareto_front.png", f"{study.study_name}_history.png",
            f"{study.study_name}_slice_lr_correct_rate.png"} <= names, skipped
    assert all(p.stat().st_size > 1000 for p in written)
    assert json.loads(study.user_attrs["space"])["fixed"]["num_steps"] == 4
