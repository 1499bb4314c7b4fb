"""Where the data sets and the caches derived from them live.

The data directory may be a read-only shared copy (CI, a lab server), so anything computed
from the data (feature caches) goes to a separate cache directory that is always the user's.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "SNNAPP_DATA_DIR"
CACHE_DIR_ENV = "SNNAPP_CACHE_DIR"


def _user_cache_root() -> Path:
    return Path(platformdirs.user_cache_dir("snnapp"))


def _resolve(explicit: str | Path | None, env_name: str, default: Path) -> Path:
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    from_env = os.environ.get(env_name, "")
    if from_env:
        return Path(from_env).expanduser()
    return default


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The folder holding ``mnist/`` and ``fsdd/recordings/``.

    An explicit argument wins, then the ``SNNAPP_DATA_DIR`` environment variable, then the
    per-user cache folder (``<user cache>/snnapp/data``). The folder is not created here.
    """
    return _resolve(data_dir, DATA_DIR_ENV, _user_cache_root() / "data")


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The folder for computed caches (features); never inside a possibly read-only data dir.

    An explicit argument wins, then ``SNNAPP_CACHE_DIR``, then ``<user cache>/snnapp/cache``.
    The folder is not created here.
    """
    return _resolve(cache_dir, CACHE_DIR_ENV, _user_cache_root() / "cache")
