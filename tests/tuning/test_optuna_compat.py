"""The Optuna internals the tuning code relies on (``snnapp.tuning._optuna_compat``), each checked
against the installed Optuna: it is there, and it does what the storages and the study loop expect."""

from __future__ import annotations

import logging
import time
import tomllib
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from packaging.requirements import Requirement
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.core.errors import Hint
from snnapp.tuning import _optuna_compat as compat
from snnapp.tuning import open_storage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_the_installed_optuna_has_everything_and_is_a_supported_version():
    assert compat.problems() == []
    compat.require()
    (requirement,) = [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())
                      ["project"]["optional-dependencies"]["train"] if r.startswith("optuna")]
    assert str(requirement.specifier) == str(Requirement(f"optuna{compat.SUPPORTED}").specifier)
    assert requirement.specifier.contains(optuna.__version__)


def test_a_missing_internal_is_one_line_naming_it_and_the_supported_versions(monkeypatch, tmp_path):
    monkeypatch.setattr(compat, "_checked", None)
    monkeypatch.delattr(optuna.storages, "RetryHeartbeatStaleTrialCallback")
    assert compat.problems() == ["optuna.storages.RetryHeartbeatStaleTrialCallback"]
    with pytest.raises(compat.OptunaMismatch) as err:
        open_storage(f"sqlite:///{tmp_path / 's.db'}")  # refused before anything is opened
    assert str(err.value) == (f"optuna {optuna.__version__} lacks what snnapp's tuning relies on "
                              f"(optuna.storages.RetryHeartbeatStaleTrialCallback); "
                              f"pip install 'optuna{compat.SUPPORTED}'")
    assert err.value.hint == Hint("install", f"optuna{compat.SUPPORTED}")
    assert not (tmp_path / "s.db").exists()
    res = CliRunner().invoke(app, ["tune", "report", "--storage", f"sqlite:///{tmp_path / 's.db'}"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1 and "lacks what snnapp's tuning relies on" in res.output


def test_a_long_list_of_missing_internals_stays_short():
    text = str(compat.mismatch([f"thing{i}" for i in range(7)], "9.0.0"))
    assert text.startswith("optuna 9.0.0 lacks what snnapp's tuning relies on (thing0, thing1, thing2 and 4 more)")


class _CountingJournal(compat.JournalHeartbeatBase):
    """A journal storage with a heartbeat that counts what Optuna asks of it."""

    def __init__(self, path: Path) -> None:
        super().__init__(optuna.storages.journal.JournalFileBackend(str(path)))
        self.beats: list[int] = []
        self.sweeps: list[int] = []

    def record_heartbeat(self, trial_id: int) -> None:
        self.beats.append(trial_id)

    def stale_trials(self, study_id: int) -> list[int]:
        self.sweeps.append(study_id)
        return []

    def get_heartbeat_interval(self) -> int | None:
        return 1

    def get_heartbeat_stale_trial_callback(self) -> Any:
        return None


def test_a_journal_storage_on_the_heartbeat_base_gets_optunas_heartbeat_and_sweep(tmp_path):
    storage = _CountingJournal(tmp_path / "j.log")
    assert compat.is_heartbeat_enabled(storage)
    assert not compat.is_heartbeat_enabled(optuna.storages.InMemoryStorage())
    study = optuna.create_study(storage=storage)
    study.optimize(lambda t: time.sleep(1.3) or 0.0, n_trials=1)
    trial_id = compat.trial_id(study.trials[0])
    assert trial_id in storage.beats  # Optuna's heartbeat thread beat for the running trial
    assert compat.study_id(study) in storage.sweeps  # and its sweep asked for stale trials first
    assert compat.stale_trial_ids(compat.study_storage(study), compat.study_id(study)) == []


def _rdb(tmp_path: Path, cls: type = compat.RDBHeartbeatBase, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(f"sqlite:///{tmp_path / 'h.db'}", heartbeat_interval=1, **kw)


def test_the_database_base_finds_stale_trials_and_trials_that_never_beat(tmp_path):
    storage = _rdb(tmp_path, grace_period=1)
    assert storage.grace_s(10) == 1.0
    assert _rdb(tmp_path).grace_s(10) == 2.0  # Optuna's default: twice the heartbeat interval
    sid = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "s")
    beating, silent = storage.create_new_trial(sid), storage.create_new_trial(sid)
    storage.record_heartbeat(beating)
    assert storage.never_beat(sid, 60.0) == []  # silent started just now
    time.sleep(2.2)  # SQLite's clock has whole seconds: more than the grace period whatever the rounding
    assert storage.optuna_stale_trials(sid) == [beating]  # Optuna's own sweep skips silent
    assert storage.never_beat(sid, 1.0) == [silent]
    assert sorted(storage.stale_trials(sid)) == [beating]  # the base keeps Optuna's answer
    # the study's storage (Optuna's cache in front of this one) passes the question on
    study = optuna.load_study(study_name="s", storage=storage)
    assert compat.stale_trial_ids(compat.study_storage(study), sid) == [beating]


def test_the_wrapped_database_methods_are_the_ones_a_study_calls(tmp_path):
    called: list[str] = []

    def wrap(method: Any) -> Any:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            called.append(method.__name__)
            return method(self, *args, **kwargs)

        return call

    class Counting(compat.RDBHeartbeatBase):
        pass

    compat.wrap_rdb_methods(Counting, wrap)
    assert all(hasattr(optuna.storages.RDBStorage, name) for name in compat.RDB_METHODS)
    study = optuna.create_study(storage=_rdb(tmp_path, Counting), study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
    assert study.best_trial.number in (0, 1)
    # Optuna's cache in front of a database storage calls these private methods, not the public ones
    assert {"_create_new_trial", "_set_trial_param", "_get_trials", "_get_best_trial_id"} <= set(called)
    assert set(called) <= set(compat.RDB_METHODS)


def test_trial_and_study_ids_are_the_storages(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(storage=storage, study_name="ids")
    seen: list[int] = []
    study.optimize(lambda t: seen.append(compat.trial_id(t)) or 0.0, n_trials=2)
    assert [compat.trial_id(t) for t in study.trials] == seen
    assert [storage.get_trial(i).number for i in seen] == [0, 1]
    assert compat.study_storage(study).get_study_name_from_id(compat.study_id(study)) == "ids"


def test_a_stopped_study_says_so():
    study = optuna.create_study()
    study.optimize(lambda t: 0.0, n_trials=1)
    assert not compat.study_stopped(study)
    grid = optuna.create_study(sampler=optuna.samplers.GridSampler({"x": [0, 1]}))
    grid.optimize(lambda t: t.suggest_categorical("x", [0, 1]), n_trials=5)
    assert len(grid.trials) == 2 and compat.study_stopped(grid)  # the grid sampler stopped it


def test_optunas_report_of_a_failed_trial_is_recognised():
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(compat.OPTIMIZE_LOGGER)
    handler = Keep()
    logger.addHandler(handler)
    try:
        study = optuna.create_study()
        study.optimize(lambda t: 0.0, n_trials=1)

        def fail(t: optuna.Trial) -> float:
            raise RuntimeError("no")

        study.optimize(fail, n_trials=1, catch=(RuntimeError,))
    finally:
        logger.removeHandler(handler)
    (failure,) = [r for r in records if r.exc_info]
    assert isinstance(failure.exc_info[1], RuntimeError)  # type: ignore[index]
    assert compat.logged_trial(str(failure.msg)) == 1 and compat.logs_failure(failure.msg, 1)
    assert not compat.logs_failure(failure.msg, 0) and compat.logged_trial("Study finished") is None


def test_telling_a_finished_trial_is_recognised():
    study = optuna.create_study()
    trial = study.ask()
    study.tell(trial, state=TrialState.FAIL)  # as another worker fails a trial it finds stale
    with pytest.raises(ValueError) as err:
        study.tell(trial, 1.0)
    assert compat.is_tell_of_finished_trial(err.value)
    assert compat.is_tell_of_finished_trial(optuna.exceptions.UpdateFinishedTrialError("x"))
    assert not compat.is_tell_of_finished_trial(ValueError("something else"))


def test_a_retry_written_by_the_project_reads_back_like_optunas_own(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", optuna.exceptions.ExperimentalWarning)  # the callback and its readers are quiet
        warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used with Study.optimize")
        callback = compat.retry_callback()
        study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 's.db'}"), study_name="r")
        first = study.ask()
        study.tell(first, state=TrialState.FAIL)
        callback(study, study.trials[0])  # Optuna's retry of trial 0
        retry = study.trials[1]
        assert retry.state == TrialState.WAITING
        assert compat.retried_trial(retry) == 0 and compat.retry_history(retry) == [0]
        assert compat.retried_trial(study.trials[0]) is None and compat.retry_history(study.trials[0]) == []
        callback(study, study.trials[1])  # the project's callback retries once only (it edits the trial it gets)
        assert len(study.trials) == 2
        # a retry of the retry, written by the project, is what Optuna's callback would write
        ours = compat.retry_attrs(retry)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.RetryHeartbeatStaleTrialCallback()(study, study.trials[1])  # no limit on retries
        assert ours == study.trials[2].system_attrs
        study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, system_attrs=ours))
        assert compat.retried_trial(study.trials[3]) == 1 and compat.retry_history(study.trials[3]) == [0, 1]
