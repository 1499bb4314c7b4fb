"""The shipped sample inputs exist, are small, documented, and go through the one paths."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from snnapp.core.preprocess import AudioConfig, audio_features, image_features

from .conftest import SAMPLES

AUDIO = [SAMPLES / "audio" / f"{d}_espeak.wav" for d in range(10)]
IMAGES = [SAMPLES / "image" / f"{d}_drawn.png" for d in range(10)] + [
    SAMPLES / "image" / f"{d}_photo.png" for d in (2, 5, 7)
]


def test_all_present_small_and_documented():
    missing = [p.name for p in AUDIO + IMAGES if not p.is_file()]
    assert not missing
    assert (SAMPLES / "PROVENANCE.md").is_file()
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 300 * 1024


@pytest.mark.parametrize("path", AUDIO, ids=lambda p: p.name)
def test_audio_sample(path):
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    f = audio_features(path, AudioConfig())
    assert f.shape == (32, 20) and np.isfinite(f).all()


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_image_sample(path):
    m = image_features(path)
    assert m.shape == (28, 28) and m.max() > 0.9
    rows, cols = np.flatnonzero((m > 0.05).any(1)), np.flatnonzero((m > 0.05).any(0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20


@pytest.mark.parametrize("d", (2, 5, 7))
def test_photo_matches_drawing_roughly(d):
    photo = image_features(SAMPLES / "image" / f"{d}_photo.png")
    drawn = {k: image_features(SAMPLES / "image" / f"{k}_drawn.png") for k in range(10)}
    # the photographed digit looks more like its own drawing than like any other digit's
    corr = {k: float(np.corrcoef(photo.ravel(), v.ravel())[0, 1]) for k, v in drawn.items()}
    assert max(corr, key=corr.get) == d
