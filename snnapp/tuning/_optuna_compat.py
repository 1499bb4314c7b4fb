"""Every piece of Optuna that is not its public API, and that snnapp's tuning relies on, in one place.

The rest of :mod:`snnapp.tuning` uses Optuna's public API and, where that is not enough, the names
below; nothing else reaches into Optuna's private modules or attributes. Each entry says why it is
needed. Optuna may change any of them in a minor release, so :func:`require` checks, once, before
the first study is opened, that the installed Optuna has every one of them, and refuses in one line
(naming what is missing and the supported versions) where it has not. Importing this module never
fails for a missing internal: the classes fall back to plain bases, and :func:`require` tells.

``tests/tuning/test_optuna_compat.py`` checks that each shim does, against the installed Optuna,
what the rest of the code relies on.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from snnapp.core.errors import Hint, SnnappError

#: The Optuna versions the project supports (``pyproject.toml`` says the same); the shims below are
#: tested against the lowest and the installed one.
SUPPORTED = ">=4.9,<6"


class OptunaMismatch(SnnappError):
    """The installed Optuna lacks an internal that snnapp's tuning relies on."""


# --- the heartbeat protocol -----------------------------------------------------------------------
# Optuna gives a heartbeat only to storages that derive from ``optuna.storages._heartbeat.BaseHeartbeat``
# (its database storage): its optimise loop starts a heartbeat thread for them and, before each trial,
# fails the trials whose heartbeat is stale by asking the storage's ``_get_stale_trial_ids``. The
# journal storage has no heartbeat of its own; ours gets one by deriving from that class and defining
# that method. The sweep snnapp runs itself (:func:`snnapp.tuning._study.fail_stale`) asks the same.
try:
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.storages._heartbeat import is_heartbeat_enabled as _is_heartbeat_enabled
except ImportError:  # require() says so; until then the classes below still import
    BaseHeartbeat = object  # type: ignore[assignment,misc]
    _is_heartbeat_enabled = None  # type: ignore[assignment]


def is_heartbeat_enabled(storage: optuna.storages.BaseStorage) -> bool:
    """Whether Optuna runs heartbeats for ``storage`` (a heartbeat storage with an interval set)."""
    return bool(_is_heartbeat_enabled(storage))


def stale_trial_ids(storage: optuna.storages.BaseStorage, study_id: int) -> list[int]:
    """The running trials of the study whose heartbeat is stale, as Optuna's own sweep finds them
    (``storage`` may be Optuna's cache in front of ours: it passes the question on)."""
    return list(storage._get_stale_trial_ids(study_id))  # type: ignore[attr-defined]


def retry_callback() -> Callable[[optuna.Study, FrozenTrial], None]:
    """Optuna's callback that queues a stale trial again, once, with its parameters and intermediate
    values (public, but experimental: its warning is silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1, inherit_intermediate_values=True)


#: The trial system attributes in which Optuna's retry callback records which trial a retry replaces
#: and the chain before it; read back with its public ``retried_trial_number`` and ``retry_history``.
#: A trial snnapp queues again itself (one Ctrl-C stopped) is written the same way, so that it is
#: read back alike (see :func:`retry_attrs`).
_RETRY_OF, _RETRY_HISTORY = "failed_trial", "retry_history"


def retry_attrs(trial: FrozenTrial) -> dict[str, Any]:
    """The system attributes of a trial queued to run ``trial`` again, as Optuna's retry callback
    writes them: ``trial``'s own, plus which trial it replaces and the chain of trials before."""
    attrs = {_RETRY_OF: trial.number, _RETRY_HISTORY: [], **trial.system_attrs}
    attrs[_RETRY_HISTORY] = [*attrs[_RETRY_HISTORY], trial.number]
    return attrs


def retry_history(trial: FrozenTrial) -> list[int]:
    """The numbers of the trials that ``trial`` runs again, oldest first (empty for a first run)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(trial)
        first = optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)
    if not history and first is not None:
        history = [first]
    return [int(n) for n in history or ()]


def retried_trial(trial: FrozenTrial) -> int | None:
    """The number of the trial whose work ``trial`` takes over (the last of its chain), or None."""
    history = retry_history(trial)
    return history[-1] if history else None


class JournalHeartbeatBase(optuna.storages.JournalStorage, BaseHeartbeat):
    """Optuna's journal storage made a heartbeat storage: a subclass defines ``record_heartbeat``,
    ``get_heartbeat_interval``, ``get_heartbeat_stale_trial_callback`` (Optuna's public names) and
    :meth:`stale_trials`, which this class hands to Optuna under its private name."""

    def stale_trials(self, study_id: int) -> list[int]:
        raise NotImplementedError

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return self.stale_trials(study_id)


# --- the database storage -------------------------------------------------------------------------
#: The methods of ``RDBStorage`` that reach the database, wrapped with the project's retries. The
#: private ones are called directly by the cache Optuna puts in front of a database storage
#: (``optuna.storages._cached_storage``), bypassing the public ones.
RDB_METHODS: tuple[str, ...] = (
    "create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions", "get_study_user_attrs",
    "get_study_system_attrs", "get_trial_user_attrs", "get_trial_system_attrs", "get_all_studies",
    "create_new_trial", "_create_new_trial", "set_trial_param", "_set_trial_param", "get_trial_param",
    "set_trial_intermediate_value", "set_trial_user_attr", "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number", "get_trial", "get_all_trials", "_get_trials",
    "get_best_trial", "_get_best_trial_id")


def wrap_rdb_methods(cls: type, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Set on ``cls`` (a subclass of ``RDBStorage``) each of :data:`RDB_METHODS`, wrapped by ``wrap``;
    a name the installed Optuna lacks is left out (:func:`require` reports it)."""
    for name in RDB_METHODS:
        method = getattr(optuna.storages.RDBStorage, name, None)
        if method is not None:
            setattr(cls, name, wrap(method))


class RDBHeartbeatBase(optuna.storages.RDBStorage):
    """Optuna's database storage with its heartbeat internals under the project's names: a subclass
    overrides :meth:`stale_trials` (Optuna's sweep calls it through its private name) and may ask
    Optuna's own answer (:meth:`optuna_stale_trials`), the running trials that never beat
    (:meth:`never_beat`), and the grace period."""

    def stale_trials(self, study_id: int) -> list[int]:
        return self.optuna_stale_trials(study_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return self.stale_trials(study_id)

    def optuna_stale_trials(self, study_id: int) -> list[int]:
        """Optuna's stale trials: running, with a heartbeat older than the grace period. A trial
        whose worker died before its first heartbeat has none, and Optuna skips it."""
        return list(optuna.storages.RDBStorage._get_stale_trial_ids(self, study_id))

    def grace_s(self, default_interval: float) -> float:
        """Seconds without a heartbeat after which a running trial is stale, as Optuna counts them
        (its ``grace_period``, by default twice the heartbeat interval)."""
        interval = self.heartbeat_interval or default_interval
        return float(self.grace_period or 2 * interval)

    def never_beat(self, study_id: int, grace_s: float) -> list[int]:
        """The running trials of the study that have no heartbeat at all and started more than
        ``grace_s`` seconds ago (their worker was killed before its first beat). Optuna's schema
        keeps heartbeats in their own table, reached only through its private models and session."""
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(self.scoped_session, True) as session:
            ids = [row[0] for row in session.query(models.TrialModel.trial_id)
                   .filter(models.TrialModel.study_id == study_id)
                   .filter(models.TrialModel.state == TrialState.RUNNING)
                   .filter(~models.TrialModel.heartbeats.any()).all()]
        limit = datetime.now() - timedelta(seconds=grace_s)
        old = []
        for trial_id in ids:
            # Optuna's own get_trial, not a subclass's wrapping of it: this runs inside one already
            start = optuna.storages.RDBStorage.get_trial(self, trial_id).datetime_start
            if start is not None and start < limit:
                old.append(trial_id)
        return old


# --- studies and trials ---------------------------------------------------------------------------
def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of ``trial`` (a running trial or a frozen one): what the storage's methods
    take. Optuna keeps it in a private attribute; ``number`` counts within the study only."""
    return int(trial._trial_id)


def study_storage(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a loaded study talks to (Optuna's cache in front of the one opened)."""
    return study._storage


def study_id(study: optuna.Study) -> int:
    """The storage's id of ``study``, which the storage's methods take."""
    return int(study._study_id)


def study_stopped(study: optuna.Study) -> bool:
    """Whether ``study.stop()`` was called during the last ``optimize``: a grid sampler does so once
    it has run its whole grid. Optuna keeps the flag private."""
    return bool(study._stop_flag)


#: The logger of Optuna's optimise loop, which reports a failed trial with a traceback. A logging
#: filter sees only the records of the logger it is added to, so it must be this one.
OPTIMIZE_LOGGER = "optuna.study._optimize"
#: How that logger names a trial in its messages: ``Trial 3 failed with parameters: ...``,
#: ``Trial 3 failed with value None.``, ``Trial 3 pruned. ...``.
_TRIAL_MESSAGE = re.compile(r"Trial (\d+) ")


def logged_trial(message: object) -> int | None:
    """The trial number an Optuna log message of :data:`OPTIMIZE_LOGGER` is about, or None."""
    found = _TRIAL_MESSAGE.match(message) if isinstance(message, str) else None
    return int(found.group(1)) if found else None


def logs_failure(message: object, number: int) -> bool:
    """Whether ``message`` is that logger's report that trial ``number`` failed."""
    return isinstance(message, str) and message.startswith(f"Trial {number} failed")


def is_tell_of_finished_trial(exc: BaseException) -> bool:
    """Whether ``exc`` is Optuna's refusal to record the result of a trial that has already finished
    (another worker failed it meanwhile): a ValueError, told apart from others only by its words."""
    if isinstance(exc, optuna.exceptions.UpdateFinishedTrialError):
        return True
    return isinstance(exc, ValueError) and str(exc).startswith("Cannot tell a")


# --- the check ------------------------------------------------------------------------------------
def _missing() -> list[str]:
    """What the installed Optuna lacks of the internals above."""
    missing: list[str] = []

    def need(ok: Callable[[], object], what: str) -> None:
        try:
            if not ok():
                missing.append(what)
        except Exception:
            missing.append(what)

    need(lambda: _is_heartbeat_enabled is not None and BaseHeartbeat is not object,
         "optuna.storages._heartbeat.BaseHeartbeat and is_heartbeat_enabled")
    for name in ("_get_stale_trial_ids", "record_heartbeat", "get_heartbeat_interval",
                 "get_heartbeat_stale_trial_callback"):
        need(functools.partial(hasattr, BaseHeartbeat, name), f"BaseHeartbeat.{name}")
    need(lambda: hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"),
         "optuna.storages.RetryHeartbeatStaleTrialCallback")
    for name in RDB_METHODS:
        need(functools.partial(hasattr, optuna.storages.RDBStorage, name), f"RDBStorage.{name}")

    def models() -> bool:
        import sqlalchemy
        from optuna.storages._rdb import models as m
        from optuna.storages._rdb.storage import _create_scoped_session  # noqa: F401

        return all(hasattr(m.TrialModel, a) for a in ("trial_id", "study_id", "state")) and \
            "heartbeats" in sqlalchemy.inspect(m.TrialModel).relationships.keys()

    need(models, "optuna.storages._rdb models (TrialModel.heartbeats) and _create_scoped_session")

    def optimise_logger() -> bool:
        import optuna.study._optimize as optimise

        return bool(getattr(optimise, "_logger", None) and optimise._logger.name == OPTIMIZE_LOGGER)

    need(optimise_logger, f"the logger {OPTIMIZE_LOGGER}")

    def study_attributes() -> bool:  # set by Study's constructor (no study is made to look)
        names = optuna.Study.__init__.__code__.co_names
        return all(a in names for a in ("_storage", "_study_id", "_stop_flag"))

    need(study_attributes, "Study._storage, _study_id and _stop_flag")
    return missing


_checked: list[str] | None = None
_lock = threading.Lock()


def problems() -> list[str]:
    """What the installed Optuna lacks (empty when it has everything), found once."""
    global _checked
    with _lock:
        if _checked is None:
            _checked = _missing()
        return list(_checked)


def mismatch(missing: Sequence[str], version: str | None = None) -> OptunaMismatch:
    """The one-line error that Optuna ``version`` lacks ``missing``; its hint installs a supported one."""
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return OptunaMismatch(f"optuna {version or optuna.__version__} lacks what snnapp's tuning relies on ({shown})",
                          hint=Hint("install", f"optuna{SUPPORTED}"))


def require() -> None:
    """Refuse, in one line, to tune with an Optuna that lacks any internal the project relies on."""
    missing = problems()
    if missing:
        logging.getLogger("snnapp.tuning").debug("optuna internals missing: %s", missing)
        raise mismatch(missing)
