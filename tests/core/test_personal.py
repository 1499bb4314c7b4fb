"""Fine-tuning a shipped model on one person's examples, on real data.

The "person" is simulated by a voice or a hand the shipped models were not trained on: one FSDD
speaker's recordings pitched up five semitones (beyond the +-2 of training augmentation; the
shipped audio model gets about one in five of them right), and five MNIST test digits of each
kind drawn thick and slanted by 40 degrees (the shipped image model reads three in four). Each
test checks the held-back examples and, more telling than ten of them, further examples of the
same voice or hand that personalise never saw.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from snnapp.core.data import list_fsdd, load_mnist
from snnapp.core.errors import ConfigError, InputError, PathError, SnnappError
from snnapp.core.modelio import load_model
from snnapp.core.predict import Predictor, shipped_model
from snnapp.core.preprocess import audio_features, image_features, load_wav, to_mono
from snnapp.core.preprocess._augment import shift_pitch
from snnapp.core.runtime import open_backend
from snnapp.core.training import PersonalResult, SilentProgress, _personal, personalise

SPEAKER = "jackson"  # the speaker the shipped model does worst on once pitched up
FAST = {"public_limit": 300, "public_val": 100, "epochs": 3}


def _voice(path: Path) -> np.ndarray:
    data, rate = load_wav(path)
    return shift_pitch(to_mono(data, rate, 8000), 5.0)


def _hand(img: np.ndarray) -> np.ndarray:
    x = ndimage.grey_dilation(img.astype(np.float32) / 255.0, size=(3, 3))
    return np.clip(ndimage.rotate(x, 40, reshape=False, order=1), 0.0, 1.0)


def _accuracy(model: Path, images: np.ndarray | None, audio: np.ndarray | None, labels: np.ndarray) -> float:
    return float((open_backend(model, "torch", "cpu").run(images, audio).digits == labels).mean())


@pytest.fixture(scope="module")
def voice(data_dir: Path) -> dict:
    clips = [c for c in list_fsdd(data_dir, "all") if c.speaker == SPEAKER]
    user = [(_voice(c.path), 8000, c.digit) for c in clips if c.take < 3]
    unseen = [c for c in clips if 20 <= c.take < 30]
    cfg = load_model(shipped_model("audio")).config.audio
    feats = np.stack([audio_features(_voice(c.path), cfg, rate=8000) for c in unseen])
    return {"user": user, "unseen": feats, "unseen_labels": np.array([c.digit for c in unseen])}


@pytest.fixture(scope="module")
def hand(data_dir: Path) -> dict:
    x, y = load_mnist(data_dir, "test")
    y = y.astype(np.int64)
    idx = np.concatenate([np.flatnonzero(y == d)[:5] for d in range(10)])
    unseen = np.arange(5000, 5300)
    cfg = load_model(shipped_model("image")).config.image
    return {"user": [(_hand(x[i]), int(y[i])) for i in idx],
            "unseen": np.stack([image_features(_hand(x[i]), cfg) for i in unseen]), "unseen_labels": y[unseen],
            "clean": x[unseen].astype(np.float32) / 255.0}


def test_audio_learns_a_new_voice(tmp_path: Path, data_dir: Path, cache_dir: Path, voice: dict):
    base = shipped_model("audio")
    out = tmp_path / "mine"
    res = personalise(base, out, data_dir, audio=voice["user"], cache_dir=cache_dir, **FAST)
    assert isinstance(res, PersonalResult) and res.model_dir == out and res.mode == "audio"
    assert (res.n_user_train, res.n_user_holdout, res.n_public_train, res.n_public_val) == (20, 10, 300, 100)
    assert sorted(res.holdout_labels) == list(range(10))
    before = _accuracy(base, None, voice["unseen"], voice["unseen_labels"])
    after = _accuracy(out, None, voice["unseen"], voice["unseen_labels"])
    print(f"\naudio held-back {res.before:.2f} -> {res.after:.2f}; 100 unseen clips of the voice "
          f"{before:.2f} -> {after:.2f}; {res.seconds:.1f} s")
    assert res.after >= res.before
    assert after >= before + 0.25  # the voice, not just the ten held-back clips, is learnt
    # the result is an ordinary model folder that predicts from files, and says where it came from
    folder = load_model(out)
    assert folder.metrics["personalised"]["holdout_accuracy_after"] == res.after
    assert folder.config.network == load_model(base).config.network
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work folder left behind
    pred = Predictor(out, backend="torch").predict_files(audio=[c.path for c in list_fsdd(data_dir, "test")[::25]])
    assert all(p.error is None for p in pred)
    assert np.mean([p.digit == int(Path(p.input).name[0]) for p in pred]) >= 0.8  # FSDD's own voices kept


def test_image_learns_a_new_hand(tmp_path: Path, data_dir: Path, hand: dict):
    base = shipped_model("image")
    out = tmp_path / "mine"
    res = personalise(base, out, data_dir, images=hand["user"], **FAST)
    before = _accuracy(base, hand["unseen"], None, hand["unseen_labels"])
    after = _accuracy(out, hand["unseen"], None, hand["unseen_labels"])
    print(f"\nimage held-back {res.before:.2f} -> {res.after:.2f}; 300 unseen digits of the hand "
          f"{before:.2f} -> {after:.2f}; {res.seconds:.1f} s")
    assert res.after >= res.before
    assert after >= before + 0.05
    assert _accuracy(out, hand["clean"], None, hand["unseen_labels"]) >= 0.97  # MNIST itself not forgotten


def test_holdout_is_chosen_by_seed_and_never_trained_on(monkeypatch, tmp_path: Path, data_dir: Path, hand: dict):
    seen: list = []

    def fake_train(cfg, out, data_dir, **kw):
        seen.append((cfg, kw["examples"]))
        raise _Boom

    monkeypatch.setattr(_personal, "train", fake_train)
    for _ in range(2):
        with pytest.raises(_Boom):
            personalise(shipped_model("image"), tmp_path / "m", data_dir, images=hand["user"], holdout_per_digit=2,
                        repeat_user=3, public_limit=40, public_val=20)
    (cfg, (tr, va)), (_, (tr2, va2)) = seen
    np.testing.assert_array_equal(va.images, va2.images)
    np.testing.assert_array_equal(tr.images, tr2.images)
    assert cfg.init_from == (str(shipped_model("image")),) and cfg.lr < 2e-3
    assert len(tr) == 30 * 3 + 40 and len(va) == 20 + 20
    assert list(tr.labels[:30]) == sorted(list(range(10)) * 3) and list(va.labels[:20]) == sorted(list(range(10)) * 2)
    held, user = va.images[:20], tr.images[:30]
    assert not any((h == u).all() for h in held for u in user)  # no held-back drawing is trained on
    np.testing.assert_array_equal(tr.images[:30], tr.images[30:60])  # repeated, in the same order


class _Boom(Exception):
    pass


def _existing_model(folder: Path) -> bytes:
    shutil.copytree(shipped_model("image"), folder)
    return (folder / "weights.safetensors").read_bytes()


def test_failed_training_leaves_out_untouched(monkeypatch, tmp_path: Path, data_dir: Path, hand: dict):
    def half_written(cfg, out, data_dir, **kw):
        Path(out).mkdir(parents=True)
        (Path(out) / "weights.safetensors").write_bytes(b"half")
        raise _Boom

    monkeypatch.setattr(_personal, "train", half_written)
    out = tmp_path / "mine"
    old = _existing_model(out)
    with pytest.raises(_Boom):
        personalise(shipped_model("image"), out, data_dir, images=hand["user"], public_limit=40, public_val=20)
    assert (out / "weights.safetensors").read_bytes() == old
    load_model(out)
    with pytest.raises(_Boom):
        personalise(shipped_model("image"), tmp_path / "new", data_dir, images=hand["user"], public_limit=40,
                    public_val=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # nothing created, nothing left over


def test_cancel_from_progress_leaves_out_untouched(tmp_path: Path, data_dir: Path, hand: dict):
    class Cancel(SilentProgress):
        def epoch_start(self, epoch, epochs, batches):
            raise _Boom

    out = tmp_path / "mine"
    old = _existing_model(out)
    with pytest.raises(_Boom):
        personalise(shipped_model("image"), out, data_dir, images=hand["user"], public_limit=40, public_val=20,
                    progress=Cancel())
    assert (out / "weights.safetensors").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def _digits(n: int = 2) -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(0)
    return [((rng.random((28, 28)) > 0.7).astype(np.float32), d) for d in range(10) for _ in range(n)]


@pytest.mark.parametrize("bad, match", [
    ([(np.ones((28, 28)), 10)], "not a digit"),
    ([(np.ones((28, 28)), -1)], "not a digit"),
    ([(np.ones((28, 28)), "3")], "not a digit"),
    ([(np.ones((28, 28)), True)], "not a digit"),
    ([(np.ones((28, 28, 3)), 3)], "grayscale image"),
    ([(np.ones(28), 3)], "grayscale image"),
    ([(np.zeros((28, 28)), 3)], "blank"),
    ([np.ones((28, 28))], "expected \\(image, label\\)"),
])
def test_bad_drawings_are_refused(tmp_path: Path, data_dir: Path, bad, match):
    with pytest.raises(InputError, match=match):
        personalise(shipped_model("image"), tmp_path / "m", data_dir, images=_digits() + bad)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("bad, match", [
    ((np.zeros(0, np.float32), 8000, 1), "non-empty"),
    ((np.zeros(4000, np.float32), 8000, 1), "silent"),
    ((np.ones((4, 4, 4), np.float32), 8000, 1), "non-empty"),
    ((np.ones(4000, np.float32), 8000.0, 1), "sample rate"),
    ((np.ones(4000, np.float32), 10, 1), "sample rate"),
    ((np.ones(4000, np.float32), 8000, 11), "not a digit"),
])
def test_bad_recordings_are_refused(tmp_path: Path, data_dir: Path, bad, match):
    rng = np.random.default_rng(0)
    good = [(rng.standard_normal(4000).astype(np.float32) * 0.1, 8000, d) for d in range(10) for _ in range(2)]
    with pytest.raises(InputError, match=match):
        personalise(shipped_model("audio"), tmp_path / "m", data_dir, audio=good + [bad])


def test_too_few_examples_name_the_digits(tmp_path: Path, data_dir: Path):
    few = _digits(2)[:-1] + [(_digits(1)[0][0], 3)]  # digit 9 once, digit 3 three times
    with pytest.raises(InputError, match="too few.*digit 9 has 1"):
        personalise(shipped_model("image"), tmp_path / "m", data_dir, images=few)
    with pytest.raises(InputError, match="at least 3.*digit 0 has 2"):
        personalise(shipped_model("image"), tmp_path / "m", data_dir, images=_digits(2), holdout_per_digit=2)
    with pytest.raises(InputError, match="no drawings"):
        personalise(shipped_model("image"), tmp_path / "m", data_dir, images=[])


def test_wrong_model_or_settings_are_refused(tmp_path: Path, data_dir: Path):
    imgs = _digits()
    with pytest.raises(ConfigError, match="multimodal model is not fine-tuned"):
        personalise(shipped_model("multimodal"), tmp_path / "m", data_dir, images=imgs)
    with pytest.raises(ConfigError, match="cannot learn from drawings"):
        personalise(shipped_model("audio"), tmp_path / "m", data_dir, images=imgs)
    with pytest.raises(ConfigError, match="not both"):
        personalise(shipped_model("image"), tmp_path / "m", data_dir, images=imgs, audio=[(np.ones(10), 8000, 1)])
    with pytest.raises(ConfigError, match="holdout_per_digit"):
        personalise(shipped_model("image"), tmp_path / "m", data_dir, images=imgs, holdout_per_digit=0)
    with pytest.raises(ConfigError, match="base model itself"):
        personalise(shipped_model("image"), shipped_model("image"), data_dir, images=imgs)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "letter.txt").write_text("keep me")
    with pytest.raises(PathError, match="not an snnapp model folder"):
        personalise(shipped_model("image"), tmp_path / "docs", data_dir, images=imgs)
    assert (tmp_path / "docs" / "letter.txt").read_text() == "keep me"
    with pytest.raises(SnnappError):
        personalise(tmp_path / "nowhere", tmp_path / "m", data_dir, images=imgs)
    assert not (tmp_path / "m").exists()
