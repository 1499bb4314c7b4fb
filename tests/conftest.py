"""Fixtures shared by all tests: the real data sets (read-only) and a cache folder per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_data_dir() -> Path:
    """``SNNAPP_DATA_DIR`` if set, else ``../shared/data`` next to the repository."""
    from_env = os.environ.get("SNNAPP_DATA_DIR")
    if from_env:
        return Path(from_env).resolve()  # absolute: tests link to it from other folders
    return Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder with the real ``mnist/`` and ``fsdd/recordings/``; the test is skipped without it."""
    folder = shared_data_dir().resolve()
    if not (folder / "mnist").is_dir() or not (folder / "fsdd" / "recordings").is_dir():
        pytest.skip(f"real data sets not found at {folder}")
    return folder


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A feature cache folder shared by the tests of one session (never the user's cache)."""
    return tmp_path_factory.mktemp("cache")

from tests.pulse import pulse_vmic  # noqa: F401  (the virtual microphone, for every test folder)
