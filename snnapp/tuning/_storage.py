"""Where studies live: a storage URL -> an Optuna storage, with heartbeats where Optuna has them.

- nothing given: a SQLite file in the user data folder (embedded, nothing to start);
- ``sqlite:///file.db``, ``postgresql+psycopg2://...``, ``mysql+pymysql://...``: a database,
  with heartbeats so that a trial of a killed worker is marked failed and retried once;
- ``journal:PATH`` or a path ending in ``.log``: Optuna's journal file (several processes on one
  machine, no database; Optuna has no heartbeat for it).
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import platformdirs
from sqlalchemy.exc import SQLAlchemyError

from snnapp.core.errors import ConfigError

HEARTBEAT_S = 10
GRACE_S = 30


def default_storage_url() -> str:
    folder = Path(platformdirs.user_data_dir("snnapp"))
    return f"sqlite:///{folder / 'studies.db'}"


def redact(url: str) -> str:
    """The URL without its password, for messages and reports."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


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


def open_storage(url: str | None, *, heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S) -> optuna.storages.BaseStorage:
    """Open (and for a database, create the schema of) the storage; one-line errors when it cannot."""
    url = normalise(url)
    journal = _journal_path(url)
    if journal is not None:
        try:
            journal.parent.mkdir(parents=True, exist_ok=True)
            backend = optuna.storages.journal.JournalFileBackend(str(journal))
        except OSError as exc:
            raise ConfigError(f"cannot open journal file {journal}: {exc.strerror}") from None
        return optuna.storages.JournalStorage(backend)
    if not re.match(r"^[a-z0-9+]+://", url):
        raise ConfigError(f"not a storage URL: {url!r}; use sqlite:///FILE.db, postgresql+psycopg2://..., "
                          "mysql+pymysql://... or journal:FILE.log")
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
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
                callback = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1, inherit_intermediate_values=True)
                return optuna.storages.RDBStorage(url, heartbeat_interval=heartbeat_s, grace_period=grace_s,
                                                  heartbeat_stale_trial_callback=callback, **kwargs)
        except ImportError as exc:
            raise ConfigError(f"cannot open storage {redact(url)}: missing database driver {exc.name!r} "
                              "(e.g. pip install psycopg2-binary)") from None
        except (SQLAlchemyError, ValueError) as exc:  # unreachable host, bad credentials, bad URL
            last = exc
            if not any(w in str(exc).lower() for w in ("already exists", "locked", "duplicate", "unique")):
                break  # not a race between workers creating the schema: retrying will not help
            time.sleep(0.5 * (attempt + 1))
    reason = str(getattr(last, "orig", None) or last).strip().splitlines()[0] if last else "unknown error"
    raise ConfigError(f"cannot open storage {redact(url)}: {reason}")


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
        raise ConfigError(f"study {name!r} exists but was not made by snnapp tune; choose another --study name")
    if stored.get("mode") != wanted.get("mode"):
        raise ConfigError(f"study {name!r} tunes the {stored.get('mode')} network, not {wanted.get('mode')}; "
                          "choose another --study name")
    if diff:
        detail = ", ".join(f"{k} {stored[k]!r} (asked {wanted[k]!r})" for k in diff)
        raise ConfigError(f"study {name!r} was run with other settings: {detail}; choose another --study name "
                          "or run it with its own settings")
