"""``snnapp predict`` and ``snnapp evaluate`` on tiny untrained model folders, and the predictor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.core.errors import Hint, ModelError, SnnappError
from snnapp.core.modelio import WEIGHTS, ModelConfig, save_model
from snnapp.core.network import NetworkConfig, SpikingDigitNet
from snnapp.core.predict import IMAGE_SUFFIXES, Predictor, files_in, shipped_model
from snnapp.core.preprocess import AudioConfig, image_features
from snnapp.core.torch_model import weights_of

SAMPLES = Path(__file__).resolve().parents[2] / "snnapp" / "assets" / "samples"
IMAGES = sorted((SAMPLES / "image").glob("*.png"))
AUDIO = sorted((SAMPLES / "audio").glob("*.wav"))


def _model(folder: Path, mode: str) -> Path:
    torch.manual_seed(0)
    audio = AudioConfig()
    net_cfg = NetworkConfig(mode=mode, num_steps=4, image_channels=(2, 3), image_hidden=8,
                            audio_in_features=audio.n_frames // 4 * audio.n_mfcc, audio_hidden=(8,))
    net = SpikingDigitNet(net_cfg)
    with torch.no_grad():  # an untrained model that still spikes
        net.out_bias.uniform_(0.2, 0.6)
    cfg = ModelConfig(net_cfg, audio=audio, temperature=2.0, training={"seed": 0, "val_fraction": 0.1})
    return save_model(folder, cfg, weights_of(net), {})


@pytest.fixture(scope="module")
def image_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _model(tmp_path_factory.mktemp("m") / "image", "image")


@pytest.fixture(scope="module")
def multimodal_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _model(tmp_path_factory.mktemp("m") / "multimodal", "multimodal")


@pytest.fixture
def damaged_model(image_model: Path, tmp_path: Path) -> Path:
    import shutil

    folder = Path(shutil.copytree(image_model, tmp_path / "damaged"))
    raw = bytearray((folder / WEIGHTS).read_bytes())
    raw[-4] ^= 0xFF
    (folder / WEIGHTS).write_bytes(bytes(raw))
    return folder


def _invoke(args: list[str], **kw):
    return CliRunner().invoke(app, [str(a) for a in args], **kw)


def _rows(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _check_prediction(row: dict) -> None:
    assert set(row) >= {"input", "digit", "probabilities"} and "error" not in row
    probs = row["probabilities"]
    assert len(probs) == 10 and all(0 <= p <= 1 for p in probs)
    assert abs(sum(probs) - 1) < 1e-4
    assert isinstance(row["digit"], int) and probs[row["digit"]] == max(probs)


def _one_line_error(result, match: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_predict_one_image_json(image_model: Path) -> None:
    result = _invoke(["predict", "--model", image_model, "--image", IMAGES[0], "--json"])
    assert result.exit_code == 0, result.output
    (row,) = _rows(result.stdout)
    _check_prediction(row)
    assert row["input"] == str(IMAGES[0]) and row["model"] == str(image_model)
    # the same numbers as the predictor called directly
    pred = Predictor(image_model)
    probs, digits = pred.run(image_features(IMAGES[0], pred.config.image)[None], None)
    assert row["digit"] == int(digits[0])
    np.testing.assert_allclose(row["probabilities"], probs[0], atol=1e-6)


def test_predict_plain_text_output(image_model: Path) -> None:
    result = _invoke(["predict", "--model", image_model, "--image", IMAGES[1]])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith(f"{IMAGES[1]}: ") and "(p=" in line and len(line.splitlines()) == 1


def test_bad_input_gets_its_own_error_line(image_model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    result = _invoke(["predict", "--model", image_model, "--image", IMAGES[0], "--image", bad,
                      "--image", IMAGES[2], "--json"])
    assert result.exit_code == 2, result.output
    rows = _rows(result.stdout)
    assert [r["input"] for r in rows] == [str(IMAGES[0]), str(bad), str(IMAGES[2])]
    _check_prediction(rows[0])
    _check_prediction(rows[2])
    assert rows[1]["digit"] is None and rows[1]["probabilities"] == []
    assert "notes.png" in rows[1]["error"] and "not a readable image" in rows[1]["error"]
    assert "Traceback" not in result.output
    # without --json the error goes to stderr, the predictions to stdout
    plain = _invoke(["predict", "--model", image_model, "--image", bad, "--image", IMAGES[0]])
    assert plain.exit_code == 2
    assert plain.stdout.strip().startswith(str(IMAGES[0]))
    assert plain.stderr.strip().startswith(f"error: {bad}: ")


def test_predict_image_dir(image_model: Path, tmp_path: Path) -> None:
    result = _invoke(["predict", "--model", image_model, "--image-dir", SAMPLES / "image", "--json"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert [r["input"] for r in rows] == [str(p) for p in IMAGES] and len(rows) == 13
    for row in rows:
        _check_prediction(row)
    _one_line_error(_invoke(["predict", "--model", image_model, "--image-dir", tmp_path / "nowhere"]), "no such folder")


def test_pairs_with_a_multimodal_model(multimodal_model: Path) -> None:
    args = ["predict", "--model", multimodal_model, "--json"]
    result = _invoke(args + ["--image", IMAGES[0], "--image", IMAGES[3], "--audio", AUDIO[0], "--audio", AUDIO[3]])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert [r["input"] for r in rows] == [f"{IMAGES[0]} + {AUDIO[0]}", f"{IMAGES[3]} + {AUDIO[3]}"]
    for row in rows:
        _check_prediction(row)
    # unequal numbers: images and recordings are predicted each on their own
    result = _invoke(args + ["--image", IMAGES[0], "--image", IMAGES[3], "--audio", AUDIO[0]])
    assert result.exit_code == 0, result.output
    assert [r["input"] for r in _rows(result.stdout)] == [str(IMAGES[0]), str(IMAGES[3]), str(AUDIO[0])]
    # the pair's prediction uses both inputs: it differs from the image alone
    pred = Predictor(multimodal_model)
    img, aud = pred.features(IMAGES[0], AUDIO[0])
    both, _ = pred.run(img[None], aud[None])
    alone, _ = pred.run(img[None], None)
    assert not np.allclose(both, alone)
    np.testing.assert_allclose(rows[0]["probabilities"], both[0], atol=1e-6)


def test_audio_input_to_an_image_model_is_an_error_line(image_model: Path) -> None:
    result = _invoke(["predict", "--model", image_model, "--audio", AUDIO[0], "--json"])
    assert result.exit_code == 2, result.output
    (row,) = _rows(result.stdout)
    assert "image model cannot use the inputs given" in row["error"]


def test_no_input_is_a_one_line_error(image_model: Path) -> None:
    _one_line_error(_invoke(["predict", "--model", image_model]), "no input")


def test_missing_shipped_model_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import snnapp.core.predict as predict_module

    monkeypatch.setattr(predict_module, "ASSETS", tmp_path)
    _one_line_error(_invoke(["predict", "--image", IMAGES[0]]), "no shipped image model in this installation; "
                                                                 "pass --model DIR")
    with pytest.raises(ModelError, match="no shipped audio model") as info:
        shipped_model("audio")
    assert info.value.hint == Hint("model") and "--" not in str(info.value)


def test_damaged_model_predict(damaged_model: Path) -> None:
    _one_line_error(_invoke(["predict", "--model", damaged_model, "--image", IMAGES[0]]), "checksum mismatch")


def test_damaged_model_evaluate(damaged_model: Path, tmp_path: Path) -> None:
    result = _invoke(["evaluate", damaged_model, "--split", "val", "--limit", "5", "--device", "cpu"],
                     env={"SNNAPP_CACHE_DIR": str(tmp_path / "cache")})
    _one_line_error(result, "checksum mismatch")


def test_missing_model_folder(tmp_path: Path) -> None:
    _one_line_error(_invoke(["predict", "--model", tmp_path / "none", "--image", IMAGES[0]]), "no such model folder")


def test_evaluate_val_json(image_model: Path, data_dir: Path, tmp_path: Path) -> None:
    env = {"SNNAPP_DATA_DIR": str(data_dir), "SNNAPP_CACHE_DIR": str(tmp_path / "cache")}
    result = _invoke(["evaluate", image_model, "--split", "val", "--limit", "20", "--json", "--device", "cpu"], env=env)
    assert result.exit_code == 0, result.output
    res = json.loads(result.stdout)
    assert res["n"] == 20 and res["split"] == "val" and res["mode"] == "image"
    assert 0.0 <= res["accuracy"] <= 1.0
    conf = np.array(res["confusion"])
    assert conf.shape == (10, 10) and conf.sum() == 20 and (conf >= 0).all()
    assert res["accuracy"] == pytest.approx(np.trace(conf) / 20)
    assert res["spikes_per_sample"] >= 0 and res["energy_nj_per_sample"] > 0
    plain = _invoke(["evaluate", image_model, "--split", "val", "--limit", "20", "--device", "cpu"], env=env)
    assert plain.exit_code == 0, plain.output
    assert f"accuracy {100 * res['accuracy']:.2f} %" in plain.stdout


def test_files_in(tmp_path: Path) -> None:
    (tmp_path / "b.PNG").write_bytes(b"x")
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "c.txt").write_bytes(b"x")
    (tmp_path / "d.png").mkdir()
    assert [p.name for p in files_in(tmp_path, IMAGE_SUFFIXES)] == ["a.jpg", "b.PNG"]
    with pytest.raises(SnnappError, match="no such folder"):
        files_in(tmp_path / "missing", IMAGE_SUFFIXES)


def test_a_unimodal_model_refuses_image_audio_pairs(image_model: Path, tmp_path: Path) -> None:
    audio_model = _model(tmp_path / "audio", "audio")
    for model, reads in ((image_model, "an image model reads only images"), (audio_model, "an audio model reads only audio")):
        result = _invoke(["predict", "--model", model, "--image", IMAGES[0], "--audio", AUDIO[0], "--json"])
        _one_line_error(result, reads)
        assert result.stdout == ""  # nothing predicted from half of each pair
    from snnapp.core.errors import InputError

    with pytest.raises(InputError, match="pairs need a multimodal model"):
        Predictor(image_model).predict_files([IMAGES[0]], [AUDIO[0]])
    # without --model a pair goes to the shipped multimodal model, as documented
    result = _invoke(["predict", "--image", IMAGES[0], "--audio", AUDIO[0], "--json"])
    assert result.exit_code == 0, result.output
    (row,) = _rows(result.stdout)
    assert row["input"] == f"{IMAGES[0]} + {AUDIO[0]}" and row["model"] == str(shipped_model("multimodal"))
