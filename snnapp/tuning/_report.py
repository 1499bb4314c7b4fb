"""The paper's table from stored studies: best settings, validation and test accuracy, cost.

Facts are gathered once into :class:`StudySummary`; Markdown and CSV are two renderings of the
same rows, so they never disagree.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from snnapp.core._atomic import write_claimed
from snnapp.core.errors import ConfigError

from ._keep import best_trial


@dataclass
class StudySummary:
    """One row of the report."""

    study: str
    mode: str
    method: str
    objectives: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    val_accuracy: float | None = None
    activity: float | None = None
    test_accuracy: float | None = None
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    compute_s: float = 0.0
    epochs_run: int = 0
    epochs_saved: int = 0
    pareto: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def saved_fraction(self) -> float:
        """Share of the epochs the finished trials would have trained without pruning."""
        total = self.epochs_run + self.epochs_saved
        return self.epochs_saved / total if total else 0.0


def load_studies(storage: optuna.storages.BaseStorage, names: list[str]) -> list[optuna.Study]:
    known = optuna.study.get_all_study_names(storage)
    missing = [n for n in names if n not in known]
    if missing:
        there = ", ".join(known) or "none"
        raise ConfigError(f"no study {', '.join(repr(m) for m in missing)} in this storage; studies there: {there}")
    return [optuna.load_study(study_name=n, storage=storage) for n in names or known]


def _truncation_note(attrs: dict[str, Any], params: dict[str, Any]) -> str | None:
    """snnTorch's mse_count targets int(rate * steps) spikes: say which whole counts the rates became."""
    fixed = json.loads(attrs.get("space", "{}")).get("fixed", {})
    if fixed.get("loss", "mse_rate") != "mse_count":
        return None
    from snnapp.core.network import MODES
    from snnapp.core.training import TrainConfig, load_recipe

    base = load_recipe(attrs["mode"]).config() if attrs.get("mode") in MODES else TrainConfig()  # what trials start from
    steps = int(params.get("num_steps", fixed.get("num_steps", base.network.num_steps)))
    c = float(params.get("correct_rate", fixed.get("correct_rate", base.correct_rate)))
    i = float(params.get("incorrect_rate", fixed.get("incorrect_rate", base.incorrect_rate)))
    return (f"mse_count truncates targets to whole spikes: correct rate {c:.3g} x {steps} steps -> {int(c * steps)} "
            f"spikes, incorrect rate {i:.3g} -> {int(i * steps)}; rates between these steps train the same")


def summarize(study: optuna.Study) -> StudySummary:
    attrs = study.user_attrs
    trials = study.get_trials(deepcopy=False)
    budget = int(attrs.get("epochs_per_trial", 0))
    s = StudySummary(study.study_name, attrs.get("mode", "?"), attrs.get("method", "?"),
                     list(attrs.get("objectives", ["accuracy"])))
    for t in trials:
        run = int(t.user_attrs.get("epochs_run", 0))
        s.compute_s += float(t.user_attrs.get("train_time_s", 0.0))
        if t.state == TrialState.COMPLETE:
            s.complete += 1
            s.epochs_run += run
        elif t.state == TrialState.PRUNED:
            s.pruned += 1
            s.epochs_run += run
            if not t.user_attrs.get("infeasible"):
                s.epochs_saved += max(budget - run, 0)
        elif t.state == TrialState.FAIL:
            s.failed += 1
    best = best_trial(study)
    if best is not None:
        s.params = dict(best.params)
        s.val_accuracy = best.values[0]
        if len(best.values) > 1:
            s.activity = best.values[1]
            s.pareto = len(study.best_trials)
        if attrs.get("test_trial") == best.number:
            s.test_accuracy = attrs.get("test_accuracy")
        note = _truncation_note(attrs, s.params)
        if note:
            s.notes.append(note)
    if s.failed:
        s.notes.append(f"{s.failed} trial(s) failed (e.g. killed workers; retried once where the storage has heartbeats)")
    return s


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _columns(rows: list[StudySummary]) -> list[str]:
    names: list[str] = []
    for r in rows:
        names += [k for k in r.params if k not in names]
    return names


#: The last columns of the table: every CSV report's header line ends in them.
_LAST_COLUMNS = ("compute (s)", "epochs", "epochs saved by pruning", "saved (%)")
#: What marks a CSV file as one ``tune report`` wrote (the end of its header line): only such a
#: file is replaced by a new report.
CSV_SIGNATURE = ("," + ",".join(_LAST_COLUMNS) + "\n").encode()
#: The first line of every Markdown report written to a file (a comment, invisible when rendered):
#: only a file bearing it is replaced by a new report.
MARKDOWN_MARK = "<!-- written by snnapp tune report -->"


def _table(rows: list[StudySummary]) -> tuple[list[str], list[list[str]]]:
    params = _columns(rows)
    head = ["study", "mode", "method", *params, "val accuracy", "test accuracy", "activity", "trials", "pruned",
            "failed", *_LAST_COLUMNS]
    body = []
    for r in rows:
        body.append([r.study, r.mode, r.method, *(_fmt(r.params.get(p)) for p in params),
                     _fmt(r.val_accuracy), _fmt(r.test_accuracy), _fmt(r.activity), str(r.complete + r.pruned),
                     str(r.pruned), str(r.failed), f"{r.compute_s:.1f}",
                     str(r.epochs_run), str(r.epochs_saved), f"{100 * r.saved_fraction:.0f}"])
    return head, body


def to_markdown(rows: list[StudySummary]) -> str:
    head, body = _table(rows)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(b) + " |" for b in body]
    notes = []
    for r in rows:
        notes += [f"- {r.study}: {n}" for n in r.notes]
        if r.pareto:
            notes.append(f"- {r.study}: {r.pareto} trial(s) on the Pareto front of {' vs '.join(r.objectives)}; "
                         "the row shows the most accurate")
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def to_csv(rows: list[StudySummary]) -> str:
    head, body = _table(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    w.writerows(body)
    return buf.getvalue()


def write_csv(rows: list[StudySummary], path: Path) -> Path:
    """Write the CSV report to ``path`` (creating its folder); only a report written before is replaced."""
    return write_claimed(path, to_csv(rows).encode("utf-8"), CSV_SIGNATURE, "CSV report")


def write_markdown(rows: list[StudySummary], path: Path) -> Path:
    """Write the Markdown report to ``path`` (creating its folder), under :data:`MARKDOWN_MARK`;
    only a report written before is replaced."""
    text = f"{MARKDOWN_MARK}\n\n{to_markdown(rows)}"
    return write_claimed(path, text.encode("utf-8"), MARKDOWN_MARK.encode(), "Markdown report")
