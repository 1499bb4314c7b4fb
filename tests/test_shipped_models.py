"""The models shipped in ``snnapp/assets/models`` reach their floors on the official test sets,
and recognise the bundled sample inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from snnapp.core.data import FSDD_SPEAKERS
from snnapp.core.evaluation import evaluate_model
from snnapp.core.modelio import load_model
from snnapp.core.predict import AUDIO_SUFFIXES, IMAGE_SUFFIXES, Predictor, files_in, shipped_model

SAMPLES = Path(__file__).resolve().parents[1] / "snnapp" / "assets" / "samples"
FLOORS = {"image": 0.992, "audio": 0.985, "multimodal": 0.998}
LOSO_AIM = 0.85  # leave-one-speaker-out mean over FSDD's six speakers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def test_results(data_dir: Path, cache_dir: Path) -> dict[str, dict]:
    return {mode: evaluate_model(shipped_model(mode), "test", data_dir, device="cpu", cache_dir=cache_dir)
            for mode in FLOORS}


@pytest.mark.parametrize("mode", sorted(FLOORS))
def test_shipped_model_reaches_its_floor(mode: str, test_results: dict[str, dict]):
    res = test_results[mode]
    assert res["n"] == {"image": 10_000, "audio": 300, "multimodal": 10_000}[mode]
    assert res["accuracy"] >= FLOORS[mode], f"{mode}: {res['accuracy']:.4f} < {FLOORS[mode]}"


def test_fusion_beats_each_modality(test_results: dict[str, dict]):
    fused = test_results["multimodal"]["accuracy"]
    assert fused > test_results["image"]["accuracy"]
    assert fused > test_results["audio"]["accuracy"]
    # and the fused model still works with one modality missing
    assert test_results["multimodal"]["image_only"] > 0.97
    assert test_results["multimodal"]["audio_only"] > 0.9


@pytest.mark.parametrize("mode", sorted(FLOORS))
def test_shipped_model_card_matches_its_weights(mode: str):
    folder = load_model(shipped_model(mode))  # verifies every checksum in the manifest
    card = (folder.path / "MODEL_CARD.md").read_text()
    from snnapp.core.modelio import WEIGHTS, sha256_file

    assert sha256_file(folder.path / WEIGHTS) in card
    assert folder.metrics["test"]["accuracy"] >= FLOORS[mode]


def test_shipped_audio_model_records_its_leave_one_speaker_out_accuracy():
    # Measured by `snnapp evaluate --loso` (six retrainings, too slow for the suite) when the model
    # was shipped; a model shipped without it, or below the aim, fails here.
    folder = load_model(shipped_model("audio"))
    loso = folder.metrics["loso"]
    assert sorted(loso["per_speaker"]) == sorted(FSDD_SPEAKERS)
    assert loso["mean_accuracy"] == pytest.approx(sum(loso["per_speaker"].values()) / len(FSDD_SPEAKERS))
    assert loso["mean_accuracy"] >= LOSO_AIM
    assert f"mean {100 * loso['mean_accuracy']:.2f} %" in (folder.path / "MODEL_CARD.md").read_text()


def test_drawn_samples_are_recognised():
    images = files_in(SAMPLES / "image", IMAGE_SUFFIXES)
    rows = Predictor(shipped_model("image")).predict_files(images=images)
    right = [int(Path(r.input).name[0]) == r.digit for r in rows]
    assert len(rows) == 13 and sum(right) >= 12, [(r.input, r.digit) for r in rows]


def test_spoken_samples_are_mostly_recognised():
    # A synthetic voice is a speaker the model never heard: most, not all, are expected right.
    clips = files_in(SAMPLES / "audio", AUDIO_SUFFIXES)
    rows = Predictor(shipped_model("audio")).predict_files(audio=clips)
    right = [int(Path(r.input).name[0]) == r.digit for r in rows]
    assert len(rows) == 10 and sum(right) >= 7, [(r.input, r.digit) for r in rows]
