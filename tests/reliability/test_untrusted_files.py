"""Model files are data, not code: every file snnapp reads is refused, never executed, when crafted.

A crafted pickle would run ``os.system("touch MARKER")`` when unpickled; each test shows the
file is refused with a clear error and that the marker never appears. Damaged and tampered files
are reported naming the file; an ONNX graph exported from other weights is refused.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.cli._common import one_line
from snnapp.core.errors import ConfigError, Hint, ModelError
from snnapp.core.examples import Examples
from snnapp.core.export import WINDOW_ONNX, export_onnx
from snnapp.core.modelio import MANIFEST, ModelConfig, load_model, save_model, write_manifest
from snnapp.core.network import NetworkConfig, SpikingDigitNet
from snnapp.core.runtime import open_backend
from snnapp.core.torch_model import weights_of
from snnapp.core.training import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_IMAGE = sorted((ROOT / "snnapp" / "assets" / "samples" / "image").glob("*.png"))[0]
NET = NetworkConfig(mode="audio", num_steps=4, audio_in_features=160, audio_hidden=(16,))
TRAIN_NET = NetworkConfig(mode="audio", num_steps=4, audio_hidden=(16,))


class _Payload:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def marker(tmp_path: Path):
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a crafted file ran code"


def test_payload_really_runs_code_when_unpickled(tmp_path: Path) -> None:
    """The payload is live: plain pickle.loads creates the marker (so its absence elsewhere means something)."""
    path = tmp_path / "PWNED"
    pickle.loads(pickle.dumps(_Payload(path)))
    assert path.exists()


def _crafted_checkpoints(marker: Path) -> dict[str, bytes]:
    zipped = io.BytesIO()
    torch.save({"fingerprint": "x", "epoch": 0, "model": {"w": torch.zeros(2)}, "evil": _Payload(marker)}, zipped)
    tensors = io.BytesIO()
    torch.save({"epoch": 0, "model": {"w": torch.zeros(2)}}, tensors)
    return {"zip with code": zipped.getvalue(), "pickle with code": pickle.dumps({"evil": _Payload(marker)}),
            "garbage": b"\x80\x04 not a checkpoint", "empty": b"", "truncated": zipped.getvalue()[:200],
            "tensors, not a checkpoint": tensors.getvalue(), "a list": _saved([1, 2, 3])}


def _saved(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _examples(n: int, seed: int) -> Examples:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    audio = rng.standard_normal((n, 1, 32, 20)).astype(np.float32) + labels[:, None, None, None]
    return Examples("audio", labels, audio=audio, audio_labels=labels, speakers=np.array(["x"] * n))


def _train(out: Path, resume: bool = True, init_from: tuple[str, ...] = ()):
    cfg = TrainConfig(network=TRAIN_NET, epochs=2, batch_size=16, augment=False, init_from=init_from)
    return train(cfg, out, Path("unused"), device="cpu", resume=resume, examples=(_examples(48, 0), _examples(16, 1)))


@pytest.mark.parametrize("kind", ["zip with code", "pickle with code", "garbage", "empty", "truncated",
                                  "tensors, not a checkpoint", "a list"])
def test_resume_refuses_a_crafted_checkpoint(tmp_path: Path, marker: Path, kind: str) -> None:
    out = tmp_path / "model"
    ckpt = tmp_path / "model.ckpt" / "checkpoint.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(_crafted_checkpoints(marker)[kind])
    with pytest.raises(ModelError, match=rf"{re.escape(str(ckpt))}: ") as info:
        _train(out)
    assert info.value.hints == (Hint("delete", str(ckpt.parent)), Hint("resume"))
    assert one_line(info.value).endswith(f"; delete {ckpt.parent}, or train without --resume")
    assert "--" not in str(info.value)
    if "code" in kind:
        assert "refused" in str(info.value) and "run code" in str(info.value)
    assert not out.exists()


def test_resume_through_the_command_line_refuses_code(tmp_path: Path, marker: Path) -> None:
    """Refused at once, before any data is loaded: one line, no traceback."""
    out = tmp_path / "model"
    ckpt = tmp_path / "model.ckpt" / "checkpoint.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(_crafted_checkpoints(marker)["zip with code"])
    result = CliRunner().invoke(app, ["train", "--mode", "audio", "--resume", "--out", str(out),
                                      "--data-dir", str(tmp_path / "no-data-here"), "--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert "refused" in result.output and "Traceback" not in result.output and "loading audio data" not in result.output
    assert "or train without --resume" in result.output


def test_resume_refuses_a_checkpoint_whose_weights_do_not_fit(tmp_path: Path) -> None:
    out = tmp_path / "model"
    _train(out, resume=False)  # a genuine run; then its checkpoint is altered
    ckpt = tmp_path / "model.ckpt" / "checkpoint.pt"
    ck = torch.load(ckpt, weights_only=True)
    first = next(iter(ck["best_model"]))
    ck["best_model"][first] = torch.zeros(3, 3)
    torch.save(ck, ckpt)
    with pytest.raises(ModelError, match="damaged checkpoint.*best weights do not fit"):
        _train(out)
    ck["fingerprint"] += " "
    torch.save(ck, ckpt)
    with pytest.raises(ConfigError, match="other settings"):
        _train(out)


# --- model folders ---------------------------------------------------------------------------

def _model(folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    return save_model(folder, ModelConfig(NET, temperature=2.0), weights_of(SpikingDigitNet(NET)), {})


def _crafted_weights(marker: Path) -> dict[str, bytes]:
    tensors = io.BytesIO()
    torch.save({"fc.weight": torch.zeros(2, 2), "evil": _Payload(marker)}, tensors)
    npz = io.BytesIO()
    np.savez(npz, w=np.array([_Payload(marker)], dtype=object))
    return {"pickle": pickle.dumps({"fc.weight": _Payload(marker)}), "torch zip": tensors.getvalue(),
            "npz with objects": npz.getvalue(), "json": b'{"fc.weight": [1, 2]}'}


@pytest.mark.parametrize("kind", ["pickle", "torch zip", "npz with objects", "json"])
def test_weights_that_are_not_safetensors_are_refused(tmp_path: Path, marker: Path, kind: str) -> None:
    folder = _model(tmp_path / "model", seed=1)
    (folder / "weights.safetensors").write_bytes(_crafted_weights(marker)[kind])
    write_manifest(folder)  # whoever crafted the folder signed it too: the checksums match
    weights = folder / "weights.safetensors"
    for load in (lambda: load_model(folder), lambda: open_backend(folder, "torch"), lambda: export_onnx(folder),
                 lambda: _train(tmp_path / "other", init_from=(str(folder),))):
        with pytest.raises(ModelError, match=rf"{re.escape(str(weights))}: not a readable safetensors file"):
            load()
    result = CliRunner().invoke(app, ["predict", "--model", str(folder), "--image", str(SAMPLE_IMAGE)])
    assert result.exit_code == 2 and "not a readable safetensors file" in result.output
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Two model folders (other weights), each with model.onnx, model_window.onnx and a model card."""
    folders = {}
    for seed in (1, 2):
        folder = _model(tmp_path_factory.mktemp(f"seed{seed}") / "model", seed)
        export_onnx(folder)
        export_onnx(folder, kind="window")
        (folder / "MODEL_CARD.md").write_text("# card\n")
        write_manifest(folder)
        folders[seed] = folder
    return folders


@pytest.mark.parametrize("name", ["weights.safetensors", "config.json", "metrics.json", "model.onnx",
                                  WINDOW_ONNX, "MODEL_CARD.md"])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_one_flipped_byte_is_reported_naming_the_file(exported, tmp_path: Path, name: str, where: str) -> None:
    folder = Path(shutil.copytree(exported[1], tmp_path / "model"))
    data = bytearray((folder / name).read_bytes())
    i = {"first": 0, "middle": len(data) // 2, "last": len(data) - 1}[where]
    data[i] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    with pytest.raises(ModelError, match=rf"^{re.escape(str(folder / name))}: checksum mismatch"):
        load_model(folder)


def test_truncated_missing_and_manifest_damage(exported, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(exported[1], tmp_path / "model"))
    weights = folder / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ModelError, match=rf"^{re.escape(str(weights))}: checksum mismatch"):
        load_model(folder)
    weights.unlink()
    with pytest.raises(ModelError, match=rf"^{re.escape(str(weights))}: missing"):
        load_model(folder)
    shutil.copy(exported[1] / "weights.safetensors", weights)
    load_model(folder)
    manifest = folder / MANIFEST
    text = manifest.read_text()
    manifest.write_text(text.replace('"sha256": {', '"sha256": {"../etc/passwd": "0", ', 1))
    with pytest.raises(ModelError, match="invalid file name"):
        load_model(folder)
    manifest.write_text(text[: len(text) // 2])
    with pytest.raises(ModelError, match=re.escape(str(manifest))):
        load_model(folder)


@pytest.mark.parametrize("name", ["model.onnx", WINDOW_ONNX])
def test_onnx_exported_from_other_weights_is_refused(exported, tmp_path: Path, name: str) -> None:
    """A graph copied from another model folder (manifest re-signed, so checksums pass)."""
    folder = Path(shutil.copytree(exported[1], tmp_path / "model"))
    shutil.copy(exported[2] / name, folder / name)
    write_manifest(folder)
    with pytest.raises(ModelError, match=rf"{re.escape(str(folder / name))}: exported from other weights"):
        open_backend(folder, "onnx")


def test_onnx_without_provenance_is_refused(exported, tmp_path: Path) -> None:
    import onnx

    folder = Path(shutil.copytree(exported[1], tmp_path / "model"))
    graph = onnx.load(str(exported[2] / "model.onnx"))
    del graph.metadata_props[:]
    onnx.save(graph, str(folder / "model.onnx"))
    write_manifest(folder)
    with pytest.raises(ModelError):
        open_backend(folder, "onnx")


# --- other files snnapp reads ----------------------------------------------------------------

def test_feature_cache_holding_pickled_objects_is_recomputed_not_unpickled(tmp_path: Path, marker: Path,
                                                                             data_dir: Path) -> None:
    from snnapp.core.features import _key, compute_features
    from snnapp.core.preprocess import AudioConfig

    paths = sorted((data_dir / "fsdd" / "recordings").glob("*.wav"))[:2]
    cfg = AudioConfig()
    target = tmp_path / "features" / f"mfcc-{_key(paths, cfg, 0, 0)}.npy"
    target.parent.mkdir()
    crafted = np.empty((2, 1), dtype=object)
    crafted[0, 0] = crafted[1, 0] = _Payload(marker)
    np.save(target, crafted, allow_pickle=True)
    feats = compute_features(paths, cfg, cache_dir=tmp_path, workers=1)
    assert feats.dtype == np.float32 and feats.shape[:2] == (2, 1)
    assert np.load(target, allow_pickle=False).dtype == np.float32  # replaced by the real features


def test_search_space_yaml_cannot_build_objects(tmp_path: Path, marker: Path) -> None:
    pytest.importorskip("yaml")
    pytest.importorskip("optuna")
    from snnapp.tuning._defaults import load_space

    space = tmp_path / "space.yaml"
    space.write_text(f'params: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_space(space)
