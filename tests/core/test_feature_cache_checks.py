"""The feature cache is checked when read and optional when written: a cached array that is not
what this code would have written (NaN, another type or shape) is recomputed and replaced, and a
cache folder that cannot be written costs one warning, never the features."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from snnapp.core import features
from snnapp.core.features import compute_features
from snnapp.core.preprocess import AudioConfig

CFG = AudioConfig()


@pytest.fixture(scope="module")
def clips(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "fsdd" / "recordings").glob("*.wav"))[::500][:4]


@pytest.fixture(scope="module")
def reference(clips: list[Path]) -> np.ndarray:
    return compute_features(clips, CFG, cache_dir=None)


def _cache_file(cache: Path) -> Path:
    (path,) = (cache / "features").glob("*.npy")
    return path


@pytest.mark.parametrize("damage", ["nan", "inf", "float64", "frames", "features"])
def test_a_cached_array_that_is_not_right_is_recomputed(clips, reference, tmp_path: Path, damage: str) -> None:
    compute_features(clips, CFG, cache_dir=tmp_path)
    path = _cache_file(tmp_path)
    bad = {"nan": np.full_like(reference, np.nan), "inf": np.where(reference > 0, np.inf, reference),
           "float64": reference.astype(np.float64) + 1.0, "frames": reference[:, :, :-1],
           "features": np.zeros(reference.shape[:3] + (reference.shape[3] + 1,), np.float32)}[damage]
    np.save(path, bad, allow_pickle=False)
    got = compute_features(clips, CFG, cache_dir=tmp_path)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, reference)
    np.testing.assert_array_equal(np.load(path), reference)  # and the cache file is whole again


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.LogCaptureFixture]:
    monkeypatch.setattr(features, "_unwritable", set(), raising=False)  # forget earlier warnings
    with caplog.at_level(logging.WARNING, logger="snnapp.core.features"):
        yield caplog


def _mount_tmpfs(folder: Path, options: str) -> None:
    folder.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({res.stderr.strip() or res.returncode})")


@pytest.fixture
def unwritable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A cache folder that cannot be written: a regular file, a read-only file system, a full one."""
    kind = request.param
    if kind == "a file":
        path = tmp_path / "cache"
        path.write_text("not a folder")
        yield path
        return
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "size=64k,ro" if kind == "read-only" else "size=64k")
    try:
        if kind == "full":
            (disk / "cache" / "features").mkdir(parents=True)
            fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(fd, b"\0" * 4096):
                    pass
            except OSError:  # ENOSPC: full to the last page
                pass
            finally:
                os.close(fd)
        yield disk / "cache"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.parametrize("unwritable", ["a file", "read-only", "full"], indirect=True)
def test_a_cache_that_cannot_be_written_costs_one_warning(clips, reference, unwritable: Path,
                                                          logged: pytest.LogCaptureFixture) -> None:
    for _ in range(2):
        np.testing.assert_array_equal(compute_features(clips, CFG, cache_dir=unwritable), reference)
    seen = logged.messages
    assert len(seen) == 1, seen  # once per folder, not per call
    assert "feature cache not used" in seen[0] and str(unwritable) in seen[0]
    if unwritable.is_dir():
        assert not [p for p in (unwritable / "features").iterdir()]  # no temporary file left behind
