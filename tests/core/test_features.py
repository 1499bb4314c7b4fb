"""The MFCC feature cache over FSDD recordings."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from snnapp.core import features
from snnapp.core.features import compute_features
from snnapp.core.preprocess import AudioConfig, audio_features

CFG = AudioConfig()
COPIES = 2


@pytest.fixture(scope="module")
def clips(data_dir: Path) -> list[Path]:
    """12 recordings spread over digits and speakers."""
    paths = sorted((data_dir / "fsdd" / "recordings").glob("*.wav"))[::250][:12]
    assert len(paths) == 12 and len({p.name.split("_")[0] for p in paths}) >= 6
    return paths


@pytest.fixture(scope="module")
def reference(clips: list[Path]) -> np.ndarray:
    return compute_features(clips, CFG, copies=COPIES, seed=0, cache_dir=None)


def _cache_files(cache: Path) -> list[Path]:
    return sorted((cache / "features").glob("*"))


def _fail(_args):
    raise AssertionError("features were recomputed instead of read from the cache")


def test_shape_and_clean_copy(clips: list[Path], reference: np.ndarray) -> None:
    assert reference.shape == (12, 1 + COPIES, CFG.n_frames, CFG.n_mfcc)
    assert reference.dtype == np.float32 and np.isfinite(reference).all()
    for i in (0, 5, 11):
        np.testing.assert_array_equal(reference[i, 0], audio_features(clips[i], CFG))


def test_second_call_reads_the_cache(clips, reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = compute_features(clips, CFG, copies=COPIES, seed=0, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, reference)
    files = _cache_files(tmp_path)
    assert len(files) == 1 and files[0].suffix == ".npy"  # no temporary file left
    monkeypatch.setattr(features, "_one", _fail)
    second = compute_features(clips, CFG, copies=COPIES, seed=0, cache_dir=tmp_path)
    np.testing.assert_array_equal(second, first)


@pytest.mark.parametrize("change", [{"audio": replace(CFG, n_mfcc=13)}, {"audio": replace(CFG, normalize=False)},
                                    {"copies": 1}, {"seed": 1}])
def test_changed_settings_change_the_key(clips, tmp_path: Path, monkeypatch, change: dict) -> None:
    base = {"audio": CFG, "copies": COPIES, "seed": 0}
    new = {**base, **change}
    assert features._key(clips, new["audio"], new["copies"], new["seed"]) != features._key(
        clips, base["audio"], base["copies"], base["seed"])
    compute_features(clips[:3], base["audio"], copies=base["copies"], seed=0, cache_dir=tmp_path)
    monkeypatch.setattr(features, "_one", _fail)
    with pytest.raises(AssertionError, match="recomputed"):
        compute_features(clips[:3], new["audio"], copies=new["copies"], seed=new["seed"], cache_dir=tmp_path)


def test_changed_file_changes_the_key(clips, tmp_path: Path) -> None:
    local = [Path(shutil.copy(p, tmp_path / p.name)) for p in clips[:2]]
    key = features._key(local, CFG, 0, 0)
    st = local[0].stat()
    import os

    os.utime(local[0], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert features._key(local, CFG, 0, 0) != key
    assert features._key(local[::-1], CFG, 0, 0) != features._key(local, CFG, 0, 0)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong shape", "empty"])
def test_damaged_cache_file_is_recomputed(clips, reference, tmp_path: Path, damage: str) -> None:
    compute_features(clips, CFG, copies=COPIES, seed=0, cache_dir=tmp_path)
    (target,) = _cache_files(tmp_path)
    raw = target.read_bytes()
    if damage == "garbage":
        target.write_bytes(b"\x00not an npy file" * 50)
    elif damage == "truncated":
        target.write_bytes(raw[: len(raw) // 2])
    elif damage == "wrong shape":
        np.save(target, np.zeros((3, 1, 2, 2), dtype=np.float32))
    else:
        target.write_bytes(b"")
    again = compute_features(clips, CFG, copies=COPIES, seed=0, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, reference)
    np.testing.assert_array_equal(np.load(target), reference)  # the cache file was replaced
    assert _cache_files(tmp_path) == [target]


def test_augmented_copies_differ_but_are_deterministic(clips, reference) -> None:
    for i in range(len(clips)):
        for c in range(1, 1 + COPIES):
            assert not np.allclose(reference[i, c], reference[i, 0]), (i, c)
        assert not np.allclose(reference[i, 1], reference[i, 2]), i
    again = compute_features(clips, CFG, copies=COPIES, seed=0, cache_dir=None)
    np.testing.assert_array_equal(again, reference)
    other_seed = compute_features(clips[:4], CFG, copies=COPIES, seed=1, cache_dir=None)
    np.testing.assert_array_equal(other_seed[:, 0], reference[:4, 0])
    assert not np.allclose(other_seed[:, 1:], reference[:4, 1:])
    # seeded per file, not by position: a reordered list gives the same rows
    reordered = compute_features(clips[::-1], CFG, copies=COPIES, seed=0, cache_dir=None)
    np.testing.assert_array_equal(reordered, reference[::-1])
    # a shorter list has fewer babble talkers to draw from: its clean rows are the same
    subset = compute_features(clips[5:1:-1], CFG, copies=COPIES, seed=0, cache_dir=None)
    np.testing.assert_array_equal(subset[:, 0], reference[5:1:-1, 0])


def test_a_new_voice_activity_detector_recomputes_the_cache(clips, tmp_path, monkeypatch) -> None:
    from snnapp.core import vad

    compute_features(clips[:2], CFG, cache_dir=tmp_path)
    first = _cache_files(tmp_path)
    monkeypatch.setattr(vad, "VAD_VERSION", vad.VAD_VERSION + 1)  # where words are cut has changed
    compute_features(clips[:2], CFG, cache_dir=tmp_path)
    assert len(_cache_files(tmp_path)) == len(first) + 1
