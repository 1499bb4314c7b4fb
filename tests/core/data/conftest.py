"""Fixtures for the data tests: the shared read-only copy of the real data sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder with the real ``mnist/`` and ``fsdd/recordings/``; the test is skipped without it."""
    folder = shared_data_dir()
    if not (folder / "mnist").is_dir() or not (folder / "fsdd" / "recordings").is_dir():
        pytest.skip(f"real data sets not found at {folder}")
    return folder
