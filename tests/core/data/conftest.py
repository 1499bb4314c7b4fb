"""Fixtures for the data tests: the shared read-only copy of the real data sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _shared_data_dir() -> Path:
    from_env = os.environ.get("SNNAPP_DATA_DIR")
    if from_env:
        return Path(from_env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder with the real ``mnist/`` and ``fsdd/recordings/``; the test is skipped without it."""
    folder = _shared_data_dir()
    if not (folder / "mnist").is_dir() or not (folder / "fsdd" / "recordings").is_dir():
        pytest.skip(f"real data sets not found at {folder}")
    return folder
