"""Fixtures shared by the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny model folders for the model-folder fuzz tests, built once per test module."""
    from .model_folder_kit import build_models  # imports torch: only where a test asks for the models

    return build_models(tmp_path_factory)
