"""Where studies live: a storage URL -> an Optuna storage, with heartbeats on every kind.

- nothing given: a SQLite file in the user data folder (embedded, nothing to start);
- ``sqlite:///file.db``, ``postgresql+psycopg2://...``, ``mysql+pymysql://...``: a database;
- ``journal:PATH`` or a path ending in ``.log``: Optuna's journal file (several processes on one
  machine, no database).

Every trial has a heartbeat, so that a trial of a killed worker is marked failed (and retried once)
by the next worker that looks: Optuna's own for databases, a timestamp in the trial's system
attributes for journal files (Optuna has none there). A database that stops answering during a run
(a restart, a network cut) is retried with backoff for ``wait_s`` seconds; after that the error
names the storage, on one line.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
import sqlite3
import stat
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
import platformdirs
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from snnapp.core._atomic import shown
from snnapp.core.errors import ConfigError, Hint, SnnappError

from . import _optuna_compat as compat
from ._redact import parse_url, public_url, redact, scrub

HEARTBEAT_S = 10
GRACE_S = 30
#: How long a storage that stopped answering during a run is retried before the run gives up.
WAIT_S = 120
#: The trial system attribute holding a journal trial's last heartbeat (seconds since the epoch).
HEARTBEAT_ATTR = "snnapp_heartbeat"
#: The pip package of each database driver SQLAlchemy may ask for, for the missing-driver message.
DRIVER_PACKAGES = {"psycopg2": "psycopg2-binary", "psycopg": "psycopg[binary]", "pymysql": "PyMySQL",
                   "MySQLdb": "mysqlclient"}

log = logging.getLogger("snnapp.tuning")


class StorageError(SnnappError):
    """The study's storage stopped answering and did not come back in time."""


def worker_name() -> str:
    """``host:pid`` of this process, as recorded on the trials it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def default_storage_url() -> str:
    folder = Path(platformdirs.user_data_dir("snnapp"))
    return f"sqlite:///{folder / 'studies.db'}"


def _driver_hint(url: str, module: str | None) -> str:
    """What to install for a missing driver: the module's own package, else the usual one for the
    URL's database (a MySQL URL must not send its user to the PostgreSQL driver)."""
    package = DRIVER_PACKAGES.get(module or "") or ("PyMySQL" if url.startswith("mysql") else "psycopg2-binary")
    return f"pip install {package}"


def _journal_path(url: str) -> Path | None:
    if url.startswith("journal:"):
        return Path(url[len("journal:"):].removeprefix("//"))
    if "://" not in url and url.endswith((".log", ".journal")):
        return Path(url)
    return None


def normalise(url: str | None) -> str:
    """The full URL for ``url``: the default file, a plain ``.db`` path as SQLite, the driver spelled out."""
    if not url:
        url = default_storage_url()
    if "://" not in url and not url.startswith("journal:") and url.endswith((".db", ".sqlite", ".sqlite3")):
        url = f"sqlite:///{Path(url).resolve()}"
    if url.startswith("postgresql://"):
        # SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3; use psycopg2 when only it is there
        try:
            import psycopg  # noqa: F401
        except ImportError:
            url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def storage_identity(url: str | None) -> str:
    """Which storage ``url`` names, without credentials or connection options: the database
    (backend, user, host, port, name) or the absolute path of the SQLite or journal file."""
    url = normalise(url)
    journal = _journal_path(url)
    if journal is not None:
        return f"journal:{Path(os.path.abspath(journal))}"
    u = parse_url(url)
    if u is None:
        return redact(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        db = u.database or ""
        return f"sqlite:///{Path(os.path.abspath(db))}" if db and db != ":memory:" else "sqlite://"
    return public_url(u._replace(drivername=backend, password=None, query={}))


def _transient(exc: BaseException) -> bool:
    """Whether ``exc``, or an error behind it, says the database could not be reached (as opposed to
    refusing what was sent): a closed connection, a refused one, a locked SQLite file."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (OperationalError, InterfaceError, sqlite3.OperationalError)):
            return True
        if isinstance(e, DBAPIError) and e.connection_invalidated:
            return True
        if type(e).__name__ in ("OperationalError", "InterfaceError") and \
                type(e).__module__.split(".")[0] in ("psycopg2", "psycopg", "pymysql", "MySQLdb"):
            return True
        e = e.__cause__ or e.__context__
    return False


def _reason(exc: BaseException) -> str:
    """The driver's own words for ``exc`` (first line), not SQLAlchemy's or Optuna's wrapping."""
    e: BaseException = exc
    while True:
        inner = getattr(e, "orig", None) or e.__cause__
        if inner is None or inner is e:
            break
        e = inner
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def storage_error(exc: BaseException) -> StorageError | None:
    """The :class:`StorageError` that ``exc`` is, or that caused it (Optuna may wrap it in another error)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, StorageError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


class _Outage:
    """Retries a call while the database does not answer: backoff up to 2 s between tries, and after
    ``wait_s`` seconds without an answer a :class:`StorageError` that names the storage."""

    def __init__(self, label: str, wait_s: float, url: str = "") -> None:
        self.label = label
        self._url = url  # only to scrub its secrets from the driver's messages
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self.back_at: float | None = None  # when it answered again after the last outage (monotonic)

    def _down(self, exc: BaseException) -> float:
        now = time.monotonic()
        with self._lock:
            if self._down_since is None:
                self._down_since = now
                log.warning("storage %s does not answer (%s); retrying for up to %.0f s",
                            self.label, scrub(_reason(exc), self._url), self.wait_s)
            return now - self._down_since

    def _up(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is not None:
                now = time.monotonic()
                log.warning("storage %s answers again after %.1f s", self.label, now - self._down_since)
                self._down_since, self.back_at = None, now

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        delay = 0.2
        while True:
            try:
                out = fn(*args, **kwargs)
            except Exception as exc:
                if not _transient(exc):
                    raise
                down = self._down(exc)
                if down >= self.wait_s:
                    raise StorageError(f"storage {self.label} has not answered for {down:.0f} s "
                                       f"({scrub(_reason(exc), self._url)}); "
                                       "the study is kept there: run the same command again once it is back") from None
                time.sleep(min(delay, self.wait_s - down))
                delay = min(2 * delay, 2.0)
                continue
            self._up()
            return out

    def recently_back(self, seconds: float) -> bool:
        return self.back_at is not None and time.monotonic() - self.back_at < seconds


def _retried(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: _RDBStorage, *args: Any, **kwargs: Any) -> Any:
        return self._outage.call(method, self, *args, **kwargs)

    return call


class _RDBStorage(compat.RDBHeartbeatBase):
    """Optuna's database storage that rides out a database restart, and fails the trials of workers
    killed before their first heartbeat (Optuna's sweep skips trials without one)."""

    def __init__(self, url: str, *, wait_s: float, **kwargs: Any) -> None:
        self._outage = _Outage(redact(url), wait_s, url)
        super().__init__(url, **kwargs)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        failed = False

        def attempt() -> bool:
            nonlocal failed
            try:
                return super(_RDBStorage, self).set_trial_state_values(trial_id, state, values)
            except UpdateFinishedTrialError:
                # the connection broke after the database committed an earlier try: that try stands
                if failed and state.is_finished() and self.get_trial(trial_id).state == state:
                    return True
                raise
            except Exception as exc:
                failed = failed or _transient(exc)
                raise

        return self._outage.call(attempt)

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self._outage.call(super().record_heartbeat, trial_id)
        except StorageError:
            pass  # the trial's own thread reports it; a heartbeat thread has nobody to tell

    def stale_trials(self, study_id: int) -> list[int]:
        grace = self.grace_s(HEARTBEAT_S)
        if self._outage.recently_back(grace + (self.heartbeat_interval or HEARTBEAT_S)):
            # everybody's heartbeats stopped with the database: give them time to resume
            return []
        stale = self._outage.call(self.optuna_stale_trials, study_id)
        stale += [i for i in self._outage.call(self.never_beat, study_id, grace) if i not in stale]
        return stale


compat.wrap_rdb_methods(_RDBStorage, _retried)


class _JournalStorage(compat.JournalHeartbeatBase):
    """Optuna's journal storage with the heartbeat Optuna gives databases only: each running trial
    writes the time into its system attributes every ``heartbeat_s``, and a running trial silent for
    ``grace_s`` (its worker killed) is stale, failed and retried by the next worker's sweep."""

    def __init__(self, backend: Any, heartbeat_s: int, grace_s: int,
                 callback: Callable[[optuna.Study, FrozenTrial], None] | None) -> None:
        super().__init__(backend)
        self._heartbeat_s = heartbeat_s
        self._grace_s = grace_s
        self._callback = callback

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
        except (UpdateFinishedTrialError, KeyError, OSError):
            pass  # the trial has just ended, or the file is busy: the next beat comes soon

    def stale_trials(self, study_id: int) -> list[int]:
        now = time.time()
        stale = []
        for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            # a retried trial carries its dead original's heartbeat: it counts from its own start
            started = t.datetime_start.timestamp() if t.datetime_start else now
            if now - max(float(t.system_attrs.get(HEARTBEAT_ATTR, 0.0)), started) > self._grace_s:
                stale.append(compat.trial_id(t))
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return self._heartbeat_s

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._callback


def _check_file(path: Path, what: str, create: bool) -> None:
    """A SQLite or journal file is a regular file (a folder fails late, a pipe blocks); with
    ``create`` false it must exist (reading studies never makes an empty storage)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if create:
            return
        raise ConfigError(f"{shown(path)}: no such {what}; check the path (no study is stored there)") from None
    except OSError as exc:
        raise ConfigError(f"{shown(path)}: cannot be examined ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        example = path / ("study.log" if what == "journal file" else "studies.db")
        raise ConfigError(f"{shown(path)}: a folder, not a {what}; name a file, e.g. {shown(example)}")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{shown(path)}: not a regular file (a pipe or a device); name a {what}")


def open_storage(url: str | None, *, heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S,
                 wait_s: float = WAIT_S, create: bool = True) -> optuna.storages.BaseStorage:
    """Open (and for a database, create the schema of) the storage; one-line errors when it cannot.

    A storage that cannot be opened is an error at once (a wrong URL or password does not get
    better); one that stops answering later is waited for up to ``wait_s`` seconds. With
    ``create`` false (reading studies), a SQLite or journal file that does not exist is an error
    instead of a new, empty storage. An Optuna without what the storages rely on is refused first.
    """
    compat.require()
    url = normalise(url)
    journal = _journal_path(url)
    if journal is not None:
        _check_file(journal, "journal file", create)
        try:
            journal.parent.mkdir(parents=True, exist_ok=True)
            backend = JournalFileBackend(str(journal))
        except OSError as exc:
            raise ConfigError(f"cannot open journal file {journal}: {exc.strerror}") from None
        return _JournalStorage(backend, heartbeat_s, grace_s, compat.retry_callback())
    if not re.match(r"^[a-z0-9+]+://", url):
        shown_url = "***@" + url.rpartition("@")[2] if "@" in url else url  # perhaps a URL without its scheme
        raise ConfigError(f"not a storage URL: {shown_url!r}; use sqlite:///FILE.db, postgresql+psycopg2://..., "
                          "mysql+pymysql://... or journal:FILE.log")
    if parse_url(url) is None:  # SQLAlchemy's own words would quote the URL, password and all
        raise ConfigError(f"cannot open storage {redact(url)}: not a URL SQLAlchemy can read (check the port; "
                          "write an @ in a password as %40)")
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        u = parse_url(url)
        if u is not None and u.database and u.database != ":memory:" and not u.query.get("uri"):
            _check_file(Path(u.database), "SQLite database", create)
        path = Path(url[len("sqlite:///"):])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the folder of {path}: {exc.strerror}") from None
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    elif url.startswith("postgresql"):
        kwargs["engine_kwargs"] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    last: Exception | None = None
    for attempt in range(3):  # workers creating the schema at the same moment may collide once
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return _RDBStorage(url, wait_s=wait_s, heartbeat_interval=heartbeat_s, grace_period=grace_s,
                                   heartbeat_stale_trial_callback=compat.retry_callback(), **kwargs)
        except ImportError as exc:
            # Optuna replaces the driver's ImportError with its own, which has no module name
            module = exc.name or getattr(exc.__cause__, "name", None)
            raise ConfigError(f"cannot open storage {redact(url)}: missing database driver {module!r} "
                              f"({_driver_hint(url, module)})") from None
        except (SQLAlchemyError, ValueError) as exc:  # unreachable host, bad credentials, bad URL
            last = exc
            if not any(w in str(exc).lower() for w in ("already exists", "locked", "duplicate", "unique")):
                break  # not a race between workers creating the schema: retrying will not help
            time.sleep(0.5 * (attempt + 1))
    reason = str(getattr(last, "orig", None) or last).strip().splitlines()[0] if last else "unknown error"
    raise ConfigError(f"cannot open storage {redact(url)}: {scrub(reason, url)}")


def study_attrs(storage: optuna.storages.BaseStorage, name: str) -> dict[str, Any] | None:
    """The user attributes of study ``name``, or None when the storage has no such study."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return storage.get_study_user_attrs(study_id)


def check_same_study(name: str, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Refuse to resume a study with other settings: a study is never silently mixed or overwritten."""
    diff = [k for k in wanted if k in stored and stored[k] != wanted[k]]
    if "mode" not in stored:
        raise ConfigError(f"study {name!r} exists but was not made by snnapp tune", hint=Hint("study"))
    if stored.get("mode") != wanted.get("mode"):
        raise ConfigError(f"study {name!r} tunes the {stored.get('mode')} network, not {wanted.get('mode')}",
                          hint=Hint("study"))
    if diff:
        detail = ", ".join(f"{k} {stored[k]!r} (asked {wanted[k]!r})" for k in diff)
        raise ConfigError(f"study {name!r} was run with other settings: {detail}",
                          hint=(Hint("study"), Hint("say", "run it with its own settings")))
