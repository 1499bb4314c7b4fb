from __future__ import annotations

from pathlib import Path

import pytest

from snnapp.core.data import resolve_cache_dir, resolve_data_dir


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SNNAPP_DATA_DIR", raising=False)
    monkeypatch.delenv("SNNAPP_CACHE_DIR", raising=False)


def test_explicit_argument_wins_over_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SNNAPP_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"


def test_env_used_when_no_argument(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SNNAPP_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("SNNAPP_CACHE_DIR", str(tmp_path / "cache"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_cache_dir() == tmp_path / "cache"


def test_defaults_are_separate_folders_in_user_cache() -> None:
    data, cache = resolve_data_dir(), resolve_cache_dir()
    assert data.name == "data" and cache.name == "cache"
    assert data.parent == cache.parent
    assert "snnapp" in str(data.parent)
    assert not data.exists() or data.is_dir()  # resolving creates nothing


def test_cache_dir_does_not_follow_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SNNAPP_DATA_DIR", str(tmp_path / "readonly"))
    assert not str(resolve_cache_dir()).startswith(str(tmp_path))
