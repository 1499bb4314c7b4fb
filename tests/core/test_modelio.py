"""Model folders: round trip, verification, atomic replacement, and refusal of foreign files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from snnapp.core import modelio
from snnapp.core.encoders import EncoderConfig
from snnapp.core.errors import ModelError
from snnapp.core.modelio import CONFIG, MANIFEST, METRICS, WEIGHTS, ModelConfig, load_model, save_model, write_manifest
from snnapp.core.network import NetworkConfig, SpikingDigitNet
from snnapp.core.preprocess import AudioConfig
from snnapp.core.torch_model import build_net, resolve_device, weights_of


def _config(hidden: tuple[int, ...] = (16,), mode: str = "audio") -> ModelConfig:
    net = NetworkConfig(mode=mode, num_steps=4, audio_in_features=8 * 20, audio_hidden=hidden,
                        image_channels=(2, 3), image_hidden=8)
    return ModelConfig(net, EncoderConfig(audio="delta"), AudioConfig(n_mfcc=20, n_frames=32), temperature=1.7,
                       training={"seed": 3, "epochs": 1})


def _net(cfg: ModelConfig, seed: int = 0) -> SpikingDigitNet:
    torch.manual_seed(seed)
    return SpikingDigitNet(cfg.network)


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, ModelConfig, SpikingDigitNet]:
    cfg = _config()
    net = _net(cfg)
    folder = save_model(tmp_path / "model", cfg, weights_of(net), {"val": {"accuracy": 0.5}})
    return folder, cfg, net


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir())


def test_round_trip(saved) -> None:
    folder, cfg, net = saved
    assert sorted(p.name for p in folder.iterdir()) == sorted([WEIGHTS, CONFIG, METRICS, MANIFEST])
    m = load_model(folder)
    assert m.config == cfg and m.config.temperature == 1.7 and m.config.encoder.audio == "delta"
    assert m.metrics == {"val": {"accuracy": 0.5}}
    assert m.onnx_path is None
    expected = weights_of(net)
    assert set(m.weights) == set(expected)
    for k, v in expected.items():
        np.testing.assert_array_equal(m.weights[k], v)
    rebuilt = build_net(m)
    assert not rebuilt.training
    x = torch.rand(4, 2, 160)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(None, x).out_mem, net.eval()(None, x).out_mem, rtol=0, atol=0)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert set(manifest["sha256"]) == {WEIGHTS, CONFIG, METRICS}


def test_write_manifest_covers_added_files(saved) -> None:
    folder, _, _ = saved
    (folder / "model.onnx").write_bytes(b"onnx bytes")
    write_manifest(folder)
    assert load_model(folder).onnx_path == folder / "model.onnx"
    (folder / "model.onnx").write_bytes(b"other bytes")
    with pytest.raises(ModelError, match="model.onnx: checksum mismatch"):
        load_model(folder)


def test_tampered_weights_are_caught(saved) -> None:
    folder, _, _ = saved
    raw = bytearray((folder / WEIGHTS).read_bytes())
    raw[-10] ^= 0x01  # one bit of one weight
    (folder / WEIGHTS).write_bytes(bytes(raw))
    with pytest.raises(ModelError, match=r"weights\.safetensors: checksum mismatch") as info:
        load_model(folder)
    assert str(folder / WEIGHTS) in str(info.value)
    # without verification the (valid, but changed) file loads: the manifest is what caught it
    assert load_model(folder, verify=False).weights


def test_modified_config_is_caught(saved) -> None:
    folder, _, _ = saved
    d = json.loads((folder / CONFIG).read_text())
    d["temperature"] = 0.5
    (folder / CONFIG).write_text(json.dumps(d))
    with pytest.raises(ModelError, match=r"config\.json: checksum mismatch") as info:
        load_model(folder)
    assert str(folder / CONFIG) in str(info.value)


def test_modified_metrics_are_caught(saved) -> None:
    folder, _, _ = saved
    (folder / METRICS).write_text('{"val": {"accuracy": 0.99}}')
    with pytest.raises(ModelError, match=r"metrics\.json: checksum mismatch"):
        load_model(folder)


@pytest.mark.parametrize("name,match", [(WEIGHTS, "missing \\(listed in the manifest\\)"),
                                        (CONFIG, "missing \\(listed in the manifest\\)"),
                                        (MANIFEST, "manifest.json: missing")])
def test_missing_file(saved, name: str, match: str) -> None:
    folder, _, _ = saved
    (folder / name).unlink()
    with pytest.raises(ModelError, match=match) as info:
        load_model(folder)
    assert name in str(info.value)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model folder"):
        load_model(tmp_path / "nowhere")


def test_manifest_with_path_outside_the_folder_is_refused(saved) -> None:
    folder, _, _ = saved
    m = json.loads((folder / MANIFEST).read_text())
    m["sha256"]["../secret"] = "0" * 64
    (folder / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ModelError, match="invalid file name"):
        load_model(folder)


def test_weights_of_another_architecture(tmp_path: Path) -> None:
    cfg = _config(hidden=(16,))
    other = _net(_config(hidden=(24,)))
    folder = save_model(tmp_path / "m", cfg, weights_of(other), {})
    loaded = load_model(folder)  # the folder itself is consistent
    with pytest.raises(ModelError, match=r"has shape \(24, 160\), the config needs \(16, 160\)") as info:
        build_net(loaded)
    assert str(folder) in str(info.value)
    image_net = _net(_config(mode="image"))
    folder2 = save_model(tmp_path / "m2", cfg, weights_of(image_net), {})
    with pytest.raises(ModelError, match="do not fit the architecture.*missing.*unexpected"):
        build_net(load_model(folder2))


def _rewrite_config(folder: Path, text: str) -> None:
    (folder / CONFIG).write_text(text)
    write_manifest(folder)  # consistent checksums: the content itself must be refused


@pytest.mark.parametrize("change,match", [
    ({"version": 2}, "format version 2; this snnapp reads 1"),
    ({"format": "keras"}, "not an snnapp model config"),
    ({"network": {"mode": "video"}}, "invalid model config.*unknown mode"),
    ({"network": {"hidden_size": 3}}, "invalid model config.*unknown network settings"),
])
def test_config_of_another_format(saved, change: dict, match: str) -> None:
    folder, _, _ = saved
    d = json.loads((folder / CONFIG).read_text())
    d.update(change)
    _rewrite_config(folder, json.dumps(d))
    with pytest.raises(ModelError, match=match) as info:
        load_model(folder)
    assert CONFIG in str(info.value)


@pytest.mark.parametrize("text", ["{not json", "\xff\xfe garbage", "[1, 2, 3]"])
def test_config_that_is_not_a_model_config(saved, text: str) -> None:
    folder, _, _ = saved
    (folder / CONFIG).write_bytes(text.encode("latin-1"))
    write_manifest(folder)
    with pytest.raises(ModelError, match=r"config\.json: (not valid JSON|not an snnapp model config)"):
        load_model(folder)


def test_save_replaces_an_existing_folder_atomically(saved) -> None:
    folder, cfg, _ = saved
    net2 = _net(cfg, seed=1)
    save_model(folder, cfg, weights_of(net2), {"run": 2})
    m = load_model(folder)
    assert m.metrics == {"run": 2}
    for k, v in weights_of(net2).items():
        np.testing.assert_array_equal(m.weights[k], v)
    assert _siblings(folder) == ["model"]  # no temporary or old folders left behind


def test_failed_save_leaves_the_previous_folder_intact(saved, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, cfg, net = saved
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def broken(_folder: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(modelio, "write_manifest", broken)
    with pytest.raises(OSError, match="disk full"):
        save_model(folder, cfg, weights_of(_net(cfg, seed=5)), {"run": 2})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert load_model(folder).metrics == {"val": {"accuracy": 0.5}}
    assert _siblings(folder) == ["model"]


def test_failed_first_save_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config()
    monkeypatch.setattr(modelio, "write_manifest", lambda _f: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_model(tmp_path / "new", cfg, weights_of(_net(cfg)), {})
    assert list(tmp_path.iterdir()) == []


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_pickled_weights_are_refused_without_running_code(saved, tmp_path: Path, how: str) -> None:
    folder, _, _ = saved
    # the payload is armed: unpickling it does create a marker
    armed = tmp_path / "armed"
    pickle.loads(pickle.dumps(_Payload(armed))).close()
    assert armed.exists()

    marker = tmp_path / "pwned"
    if how == "torch.save":
        torch.save({"fc_audio.0.weight": _Payload(marker)}, folder / WEIGHTS)
    else:
        (folder / WEIGHTS).write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ModelError, match=r"weights\.safetensors: checksum mismatch"):
        load_model(folder)
    write_manifest(folder)  # even with matching checksums ...
    with pytest.raises(ModelError, match=r"weights\.safetensors: not a readable safetensors file"):
        load_model(folder)
    with pytest.raises(ModelError, match="not a readable safetensors file"):
        load_model(folder, verify=False)
    assert not marker.exists()


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ModelError, match="unknown device"):
        resolve_device("abacus")


def test_batchnorm_model_round_trip_keeps_scalars(tmp_path: Path) -> None:
    cfg = _config(mode="image")
    net = _net(cfg).train()
    net(torch.rand(2, 1, 28, 28), None)  # batch norm counts one batch
    folder = save_model(tmp_path / "img", cfg, weights_of(net), {})
    m = load_model(folder)
    assert m.weights["bn1.num_batches_tracked"].shape == ()
    rebuilt = build_net(m)
    assert int(rebuilt.bn1.num_batches_tracked) == 1
    torch.testing.assert_close(rebuilt.bn1.running_mean, net.bn1.running_mean)


def test_scalars_saved_as_one_element_arrays_still_load(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    cfg = _config(mode="image")
    folder = save_model(tmp_path / "img", cfg, weights_of(_net(cfg)), {})
    old = {k: (v.reshape(1) if v.ndim == 0 else v) for k, v in weights_of(_net(cfg)).items()}
    save_file(old, str(folder / WEIGHTS))  # as written by earlier versions
    write_manifest(folder)
    assert int(build_net(load_model(folder)).bn2.num_batches_tracked) == 0
