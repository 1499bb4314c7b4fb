"""The guided teach session: prompts, files kept as they come, resume, undo, and its hand-off."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from snnapp.app._teach import SESSION_FILE, TeachSession, default_folder
from snnapp.core.errors import ConfigError, InputError


def _clip(i: int, n: int = 4000) -> np.ndarray:
    return (0.3 * np.sin(np.arange(n) * (0.05 + 0.01 * i))).astype(np.float32)


def test_order_covers_every_digit_per_digit_times_shuffled_by_seed(tmp_path: Path):
    s = TeachSession("audio", 3, tmp_path / "a")
    assert s.total == 30 and s.done == 0 and s.next_digit == s.order[0]
    assert Counter(s.order) == {d: 3 for d in range(10)}
    assert s.order != tuple(sorted(s.order))
    assert TeachSession("audio", 3, tmp_path / "b").order == s.order
    assert TeachSession("audio", 3, tmp_path / "c", seed=1).order != s.order
    assert Counter(TeachSession("image", 1, tmp_path / "d").order) == {d: 1 for d in range(10)}


def test_recordings_are_written_as_they_come_and_read_back(tmp_path: Path):
    s = TeachSession("audio", 2, tmp_path)
    for i in range(3):
        digit = s.next_digit
        path = s.add(_clip(i), 16000)
        assert path.is_file() and path.suffix == ".wav" and path.name.endswith(f"digit{digit}.wav")
    assert s.done == 3 and not s.complete
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    got = s.examples()
    assert [g[2] for g in got] == list(s.order[:3])
    for i, (samples, rate, _) in enumerate(got):
        assert rate == 16000
        np.testing.assert_array_equal(samples, _clip(i))


def test_load_resumes_where_the_person_stopped(tmp_path: Path):
    s = TeachSession("audio", 2, tmp_path, seed=5)
    for i in range(4):
        s.add(_clip(i), 8000)
    again = TeachSession.load(tmp_path)
    assert (again.modality, again.per_digit, again.seed, again.order) == ("audio", 2, 5, s.order)
    assert again.done == 4 and again.next_digit == s.order[4]
    again.add(_clip(9), 8000)
    assert TeachSession.open("audio", 2, tmp_path).done == 5
    with pytest.raises(ConfigError, match="holds audio examples"):
        TeachSession.open("image", 2, tmp_path)
    with pytest.raises(ConfigError, match="earlier session"):
        TeachSession("audio", 2, tmp_path)  # a new session never overwrites one in progress
    again.clear()
    assert again.done == 0 and TeachSession.load(tmp_path).done == 0
    assert TeachSession("audio", 2, tmp_path).done == 0  # once cleared, a new one may start


def test_undo_forgets_the_last_example_and_asks_again(tmp_path: Path):
    s = TeachSession("image", 1, tmp_path)
    assert s.undo_last() is None
    first = s.add(np.eye(28, dtype=np.float32))
    second = s.add(np.eye(28, dtype=np.uint8) * 255)
    assert s.undo_last() == s.order[1]
    assert not second.exists() and first.exists() and s.done == 1 and s.next_digit == s.order[1]
    assert TeachSession.load(tmp_path).done == 1


def test_drawings_are_pngs_that_come_back_as_uint8(tmp_path: Path):
    s = TeachSession("image", 1, tmp_path)
    s.add(np.linspace(0, 1, 28 * 28, dtype=np.float32).reshape(28, 28))
    s.add(np.full((56, 40), 200, dtype=np.uint8))  # a larger pad is kept as it is
    (img0, d0), (img1, d1) = s.examples()
    assert (d0, d1) == s.order[:2]
    assert img0.dtype == np.uint8 and img0[0, 0] == 0 and img0[-1, -1] == 255
    assert img1.shape == (56, 40) and (img1 == 200).all()
    assert all(p.suffix == ".png" for p in s.files())


def test_a_complete_session_takes_no_more(tmp_path: Path):
    s = TeachSession("image", 1, tmp_path)
    for _ in range(10):
        s.add(np.eye(28))
    assert s.complete and s.next_digit is None and s.done == s.total == 10
    with pytest.raises(InputError, match="already given"):
        s.add(np.eye(28))


@pytest.mark.parametrize("modality, sample, rate, match", [
    ("audio", np.zeros(0, np.float32), 8000, "non-empty"),
    ("audio", np.zeros((2, 2, 2), np.float32), 8000, "non-empty"),
    ("audio", _clip(0), None, "sample rate"),
    ("image", np.zeros((28, 28, 3)), None, "grayscale"),
    ("image", np.zeros(28), None, "grayscale"),
])
def test_bad_samples_are_refused_and_not_counted(tmp_path: Path, modality, sample, rate, match):
    s = TeachSession(modality, 1, tmp_path)
    with pytest.raises(InputError, match=match):
        s.add(sample, rate)
    assert s.done == 0 and [p.name for p in tmp_path.iterdir()] == [SESSION_FILE]


def test_bad_settings_and_folders(tmp_path: Path):
    with pytest.raises(ConfigError, match="modality"):
        TeachSession("video", 1, tmp_path)
    with pytest.raises(ConfigError, match="per_digit"):
        TeachSession("audio", 0, tmp_path)
    with pytest.raises(InputError, match="no session.json"):
        TeachSession.load(tmp_path / "none")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / SESSION_FILE).write_text("{not json")
    with pytest.raises(InputError, match="unreadable"):
        TeachSession.load(tmp_path / "x")


def test_default_folder_is_per_user(monkeypatch, tmp_path: Path):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(tmp_path / app))
    assert default_folder("audio") == tmp_path / "snnapp" / "personal" / "audio"
    s = TeachSession("image", 1)
    assert s.folder == tmp_path / "snnapp" / "personal" / "image" and (s.folder / SESSION_FILE).is_file()


def test_taught_drawings_feed_personalise(tmp_path: Path, data_dir: Path):
    from snnapp.core.data import load_mnist
    from snnapp.core.modelio import load_model
    from snnapp.core.predict import shipped_model
    from snnapp.core.training import personalise

    x, y = load_mnist(data_dir, "test")
    s = TeachSession("image", 2, tmp_path / "taught")
    used: Counter = Counter()
    while not s.complete:
        d = s.next_digit
        s.add(x[np.flatnonzero(y == d)[used[d]]])
        used[d] += 1
    res = personalise(shipped_model("image"), tmp_path / "mine", data_dir,
                      images=TeachSession.load(tmp_path / "taught").examples(), public_limit=60, public_val=40,
                      epochs=1)
    assert (res.n_user_train, res.n_user_holdout) == (10, 10)
    assert res.before >= 0.9 and res.after >= 0.8  # MNIST digits: the model knew them already
    load_model(tmp_path / "mine")
