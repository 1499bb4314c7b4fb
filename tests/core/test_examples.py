"""Examples of each mode and split, their splits and pairings, and their encoding into batches."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from snnapp.core import examples as examples_module
from snnapp.core.data import fixed_test_pairs, list_fsdd, load_mnist, stratified_split
from snnapp.core.encoders import EncoderConfig, audio_features_per_step, image_channels
from snnapp.core.errors import ConfigError
from snnapp.core.examples import Examples, load_examples, make_batch
from snnapp.core.features import compute_features
from snnapp.core.network import NetworkConfig, SpikingDigitNet
from snnapp.core.preprocess import AudioConfig, audio_features

SPEAKERS = ("george", "jackson", "lucas")
TAKES = (0, 1, 5, 6, 7, 8, 9)


@pytest.fixture(autouse=True)
def one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Features in this process only: the tests must not take CPU cores from other work."""
    monkeypatch.setattr(examples_module, "compute_features", functools.partial(compute_features, workers=1))


@pytest.fixture(scope="module")
def small_data(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real MNIST and 210 real FSDD recordings (3 speakers, takes 0-1 test and 5-9 train)."""
    root = tmp_path_factory.mktemp("data")
    (root / "mnist").symlink_to(data_dir / "mnist", target_is_directory=True)
    rec = root / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for d in range(10):
        for s in SPEAKERS:
            for t in TAKES:
                name = f"{d}_{s}_{t}.wav"
                (rec / name).symlink_to(data_dir / "fsdd" / "recordings" / name)
    return root


def _expected_clips(data: Path, split: str, seed: int = 0):
    clips = list_fsdd(data, "test" if split == "test" else "train")
    if split == "test":
        return clips
    tr, va = stratified_split(np.array([c.digit for c in clips]), 0.1, seed)
    return [clips[i] for i in (tr if split == "train" else va)]


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_image_examples(data_dir: Path, split: str) -> None:
    ex = load_examples("image", split, data_dir, limit=10)
    images, labels = load_mnist(data_dir, "test" if split == "test" else "train")
    idx = np.arange(10) if split == "test" else stratified_split(labels, 0.1, 0)[0 if split == "train" else 1][:10]
    assert len(ex) == 10 and ex.mode == "image" and ex.audio is None and ex.pairs is None
    assert ex.labels.dtype == np.int64
    np.testing.assert_array_equal(ex.labels, labels[idx])
    np.testing.assert_array_equal(ex.images, images[idx])


@pytest.mark.parametrize("split,limit", [("train", 8), ("val", None), ("test", 30)])
def test_audio_examples(small_data: Path, cache_dir: Path, split: str, limit: int | None) -> None:
    ex = load_examples("audio", split, small_data, limit=limit, cache_dir=cache_dir)
    clips = _expected_clips(small_data, split)[:limit]
    assert len(ex) == len(clips) and ex.images is None and ex.pairs is None
    np.testing.assert_array_equal(ex.labels, [c.digit for c in clips])
    np.testing.assert_array_equal(ex.audio_labels, ex.labels)
    np.testing.assert_array_equal(ex.speakers, [c.speaker for c in clips])
    cfg = AudioConfig()
    assert ex.audio.shape == (len(clips), 1, cfg.n_frames, cfg.n_mfcc)
    for i in (0, len(clips) - 1):
        np.testing.assert_array_equal(ex.audio[i, 0], audio_features(clips[i].path, cfg))
    if split == "test":
        assert {c.take for c in clips} <= {0, 1}
    else:
        assert {c.take for c in clips} <= {5, 6, 7, 8, 9}


def test_audio_train_copies(small_data: Path, cache_dir: Path) -> None:
    ex = load_examples("audio", "train", small_data, limit=4, audio_copies=2, cache_dir=cache_dir)
    assert ex.audio.shape[:2] == (4, 3)
    val = load_examples("audio", "val", small_data, audio_copies=2, cache_dir=cache_dir)
    assert val.audio.shape[1] == 1  # never augmented outside training


@pytest.mark.parametrize("split", ["val", "test"])
def test_multimodal_pairs_match_labels_and_are_reproducible(small_data: Path, cache_dir: Path, split: str) -> None:
    ex = load_examples("multimodal", split, small_data, limit=200, cache_dir=cache_dir)
    assert len(ex) == 200 and ex.pairs.shape == (200,)
    np.testing.assert_array_equal(ex.labels, ex.audio_labels[ex.pairs])  # image label == clip label
    assert len(ex.audio) == len(_expected_clips(small_data, split))  # all clips kept for pairing
    again = load_examples("multimodal", split, small_data, limit=200, cache_dir=cache_dir)
    np.testing.assert_array_equal(again.pairs, ex.pairs)
    np.testing.assert_array_equal(again.images, ex.images)
    full = load_examples("multimodal", split, small_data, cache_dir=cache_dir)
    np.testing.assert_array_equal(full.pairs[:200], ex.pairs)  # limit keeps a prefix of the pairing
    np.testing.assert_array_equal(full.pairs, fixed_test_pairs(full.labels, full.audio_labels, 0))
    other = load_examples("multimodal", split, small_data, limit=200, seed=1, cache_dir=cache_dir)
    np.testing.assert_array_equal(other.labels, other.audio_labels[other.pairs])
    assert not np.array_equal(other.pairs, ex.pairs) or not np.array_equal(other.labels, ex.labels)


def test_multimodal_train_is_paired_afresh(small_data: Path, cache_dir: Path) -> None:
    ex = load_examples("multimodal", "train", small_data, limit=20, cache_dir=cache_dir)
    assert ex.pairs is None and len(ex) == 20 and ex.images.shape == (20, 28, 28)
    assert len(ex.audio) == len(_expected_clips(small_data, "train"))


def test_unknown_split(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown split"):
        load_examples("image", "dev", data_dir)


def _counts(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=10)


def test_image_val_and_train_partition_the_training_set(data_dir: Path) -> None:
    train = load_examples("image", "train", data_dir)
    val = load_examples("image", "val", data_dir)
    images, labels = load_mnist(data_dir, "train")
    assert len(train) + len(val) == len(labels)
    want_val = np.array([math.floor(n * 0.1 + 0.5) for n in _counts(labels)])
    np.testing.assert_array_equal(_counts(val.labels), want_val)  # stratified
    np.testing.assert_array_equal(_counts(train.labels), _counts(labels) - want_val)

    def rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        flat = np.concatenate([x.reshape(len(x), -1), y[:, None].astype(np.uint8)], axis=1)
        return np.sort(np.ascontiguousarray(flat).view(f"V{flat.shape[1]}").ravel())

    # together exactly the training set (as a multiset of image+label), so disjoint
    both = rows(np.concatenate([train.images, val.images]), np.concatenate([train.labels, val.labels]))
    assert np.array_equal(both, rows(images, labels))


def test_audio_val_and_train_are_disjoint_and_stratified(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[Path]] = {}

    def fake_features(paths, cfg, *, copies=0, seed=0, cache_dir=None, workers=None):
        seen[current] = list(paths)  # the split's clips, without computing any feature
        return np.zeros((len(paths), 1 + copies, cfg.n_frames, cfg.n_mfcc), dtype=np.float32)

    monkeypatch.setattr(examples_module, "compute_features", fake_features)
    out = {}
    for current in ("train", "val", "test"):
        out[current] = load_examples("audio", current, data_dir)
    train, val = set(seen["train"]), set(seen["val"])
    assert not train & val
    all_train = list_fsdd(data_dir, "train")
    assert train | val == {c.path for c in all_train}
    assert {int(p.name.split("_")[2][:-4]) for p in seen["test"]} == {0, 1, 2, 3, 4}
    assert not set(seen["test"]) & (train | val)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(out[split].labels, [int(p.name[0]) for p in seen[split]])
    full = _counts(np.array([c.digit for c in all_train]))
    np.testing.assert_array_equal(_counts(out["val"].labels), [math.floor(n * 0.1 + 0.5) for n in full])


# ----------------------------------------------------------------------------- batches
def _memory_examples(mode: str, n: int = 6, m: int = 8, copies: int = 2) -> Examples:
    rng = np.random.default_rng(0)
    labels = np.arange(n, dtype=np.int64) % 4
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8) if mode != "audio" else None
    audio = rng.normal(size=(m if mode == "multimodal" else n, copies, 32, 20)).astype(np.float32)
    audio_labels = (np.arange(len(audio)) % 4).astype(np.int64)
    pairs = fixed_test_pairs(labels, audio_labels, 0) if mode == "multimodal" else None
    if mode == "image":
        return Examples(mode, labels, images=images)
    return Examples(mode, labels, images=images, audio=audio, audio_labels=audio_labels, pairs=pairs)


@pytest.mark.parametrize("image_kind", ["direct", "rate", "latency", "delta"])
@pytest.mark.parametrize("audio_kind", ["direct", "rate", "delta"])
def test_make_batch_shapes(image_kind: str, audio_kind: str) -> None:
    T = 4
    enc = EncoderConfig(image=image_kind, audio=audio_kind)
    ex = _memory_examples("multimodal")
    idx = np.array([4, 0, 2])
    b = make_batch(ex, idx, T, enc, torch.device("cpu"), rng=np.random.default_rng(1))
    c = image_channels(image_kind)
    f = audio_features_per_step(audio_kind, 32, 20, T)
    assert b.image.shape == ((3, 1, 28, 28) if image_kind == "direct" else (T, 3, c, 28, 28))
    assert b.audio.shape == (T, 3, f)
    assert b.image.dtype == b.audio.dtype == torch.float32
    np.testing.assert_array_equal(b.labels.numpy(), ex.labels[idx])
    np.testing.assert_array_equal(b.audio_rows, ex.pairs[idx])
    np.testing.assert_array_equal(ex.audio_labels[b.audio_rows], ex.labels[idx])
    if image_kind == "direct":
        torch.testing.assert_close(b.image[:, 0], torch.from_numpy(ex.images[idx]).float() / 255)
    # the batch fits a network configured for these encoders
    net = SpikingDigitNet(NetworkConfig(mode="multimodal", num_steps=T, image_in_channels=c, image_channels=(2, 2),
                                        image_hidden=4, audio_in_features=f, audio_hidden=(4,))).eval()
    with torch.no_grad():
        assert net(b.image, b.audio).counts.shape == (3, 10)


def test_make_batch_audio_mode_and_copies() -> None:
    ex = _memory_examples("audio", n=6, copies=3)
    idx = np.array([5, 1])
    enc = EncoderConfig()
    b = make_batch(ex, idx, 8, enc, torch.device("cpu"), rng=np.random.default_rng(0))
    assert b.image is None and b.audio.shape == (8, 2, 4 * 20)
    np.testing.assert_array_equal(b.audio_rows, idx)
    copies_used = set()
    for seed in range(20):
        b = make_batch(ex, idx, 8, enc, torch.device("cpu"), rng=np.random.default_rng(seed))
        for j, row in enumerate(idx):
            frames = b.audio[:, j].reshape(32, 20).numpy()
            match = [c for c in range(3) if np.array_equal(frames, ex.audio[row, c])]
            assert len(match) == 1
            copies_used.add(match[0])
    assert copies_used == {0, 1, 2}  # augmented copies are drawn
    one = _memory_examples("audio", n=6, copies=1)
    b = make_batch(one, idx, 8, enc, torch.device("cpu"))
    np.testing.assert_array_equal(b.audio[:, 0].reshape(32, 20).numpy(), one.audio[5, 0])


def test_make_batch_image_mode_and_audio_latency() -> None:
    ex = _memory_examples("image")
    b = make_batch(ex, np.arange(3), 4, EncoderConfig(image="rate"), torch.device("cpu"))
    assert b.audio is None and b.image.shape == (4, 3, 1, 28, 28)
    with pytest.raises(ConfigError, match="latency"):
        make_batch(_memory_examples("audio"), np.arange(2), 4, EncoderConfig(audio="latency"), torch.device("cpu"))
