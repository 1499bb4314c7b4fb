"""Training end to end on a little real data: model folders, resume, and errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from snnapp.core.errors import ConfigError
from snnapp.core.examples import load_examples
from snnapp.core.modelio import load_model
from snnapp.core.network import NetworkConfig
from snnapp.core.training import SilentProgress, TrainConfig, train

SMALL = NetworkConfig(mode="audio", num_steps=8, audio_hidden=(32,))


def _cfg(**kw) -> TrainConfig:
    base = dict(network=SMALL, epochs=3, batch_size=32, limit=96, audio_copies=1, lr=5e-3)
    base.update(kw)
    return TrainConfig(**base)


class _Stop(Exception):
    pass


class _KillAt(SilentProgress):
    """Progress that dies when epoch ``at`` starts, like a process killed between epochs."""

    def __init__(self, at: int) -> None:
        self.at = at

    def epoch_start(self, epoch, epochs, batches):
        if epoch == self.at:
            raise _Stop


def test_train_writes_a_model_folder(tmp_path: Path, data_dir: Path, cache_dir: Path):
    res = train(_cfg(), tmp_path / "m", data_dir, device="cpu", cache_dir=cache_dir)
    folder = load_model(res.model_dir)
    assert folder.config.mode == "audio"
    assert folder.config.network.audio_in_features == 4 * 20  # 32 frames / 8 steps x 20 MFCC
    assert len(res.metrics["history"]) == 3
    assert 0.0 <= res.metrics["val"]["accuracy"] <= 1.0
    assert res.metrics["val"]["n"] == 96
    assert folder.config.temperature > 0
    # learning happened: training accuracy rose above chance
    assert res.metrics["history"][-1]["train_accuracy"] > 0.2


def test_resume_continues_exactly(tmp_path: Path, data_dir: Path, cache_dir: Path):
    whole = train(_cfg(), tmp_path / "whole", data_dir, device="cpu", cache_dir=cache_dir)
    with pytest.raises(_Stop):
        train(_cfg(), tmp_path / "cut", data_dir, device="cpu", cache_dir=cache_dir, progress=_KillAt(2))
    assert not (tmp_path / "cut").exists()  # no model folder from an interrupted run
    resumed = train(_cfg(), tmp_path / "cut", data_dir, device="cpu", cache_dir=cache_dir, resume=True)
    a, b = load_model(whole.model_dir).weights, load_model(resumed.model_dir).weights
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert [h["val_accuracy"] for h in whole.metrics["history"]] == [h["val_accuracy"] for h in resumed.metrics["history"]]


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path: Path, data_dir: Path, cache_dir: Path):
    with pytest.raises(_Stop):
        train(_cfg(), tmp_path / "m", data_dir, device="cpu", cache_dir=cache_dir, progress=_KillAt(1))
    with pytest.raises(ConfigError, match="other settings"):
        train(_cfg(lr=1e-3), tmp_path / "m", data_dir, device="cpu", cache_dir=cache_dir, resume=True)


def test_contradictory_rates_are_refused():
    with pytest.raises(ConfigError, match="incorrect rate"):
        _cfg(correct_rate=0.3, incorrect_rate=0.5)


def test_an_image_model_takes_steps_that_do_not_divide_the_audio_frames(tmp_path: Path, data_dir: Path,
                                                                         cache_dir: Path):
    net = NetworkConfig(mode="image", num_steps=3, image_channels=(4, 4), image_hidden=16)
    res = train(_cfg(network=net, epochs=1, limit=64), tmp_path / "m", data_dir, device="cpu", cache_dir=cache_dir)
    assert load_model(res.model_dir).config.network.num_steps == 3  # 32 audio frames are not a multiple of 3
    with pytest.raises(ConfigError, match="do not divide into 3 time steps"):
        train(_cfg(network=NetworkConfig(mode="audio", num_steps=3, audio_hidden=(8,)), epochs=1, limit=64),
              tmp_path / "a", data_dir, device="cpu", cache_dir=cache_dir)


def test_bf16_training_learns_and_saves_float32_weights(tmp_path: Path, data_dir: Path, cache_dir: Path):
    fp32 = train(_cfg(), tmp_path / "a", data_dir, device="cpu", cache_dir=cache_dir)
    bf16 = train(_cfg(precision="bf16"), tmp_path / "b", data_dir, device="cpu", cache_dir=cache_dir)
    folder = load_model(bf16.model_dir)
    assert folder.config.training["precision"] == "bf16"
    assert all(np.asarray(w).dtype == np.float32 for k, w in folder.weights.items() if "num_batches" not in k)
    assert bf16.metrics["history"][-1]["train_accuracy"] > 0.2  # it learns, as float32 does
    a, b = load_model(fp32.model_dir).weights, folder.weights
    assert any(not np.array_equal(a[k], b[k]) for k in a)  # and the arithmetic really differed
    with pytest.raises(ConfigError, match="unknown precision 'fp16'"):
        _cfg(precision="fp16")


def test_auto_precision_is_bf16_only_where_the_device_computes_it_natively(tmp_path: Path, data_dir: Path,
                                                                           cache_dir: Path, monkeypatch):
    from snnapp.core.training import _trainer

    cpu = torch.device("cpu")
    assert _trainer.resolve_precision("fp32", cpu) == "fp32" and _trainer.resolve_precision("bf16", cpu) == "bf16"
    for native, want in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda native=native: native, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
        assert _trainer.resolve_precision("auto", cpu) == want
    # the model records what auto became, so that its card and a retrain say what really ran
    res = train(_cfg(precision="auto"), tmp_path / "auto", data_dir, device="cpu", cache_dir=cache_dir)
    assert load_model(res.model_dir).config.training["precision"] == "fp32"


def test_feature_masks_change_training_and_repeat_exactly(tmp_path: Path, data_dir: Path, cache_dir: Path):
    def weights(name: str, masks: int) -> dict:
        res = train(_cfg(epochs=1, feature_masks=masks), tmp_path / name, data_dir, device="cpu", cache_dir=cache_dir)
        return load_model(res.model_dir).weights

    plain, masked, again = weights("plain", 0), weights("masked", 3), weights("again", 3)
    assert any(not np.array_equal(plain[k], masked[k]) for k in plain)
    for k in masked:
        np.testing.assert_array_equal(masked[k], again[k], err_msg=k)


def test_the_latest_of_equally_good_epochs_is_kept(tmp_path: Path, data_dir: Path, cache_dir: Path):
    # Validation on one recording: every epoch scores 0 or 1, so the best score repeats.
    cfg = _cfg(epochs=6, patience=3)
    kw = dict(audio_cfg=cfg.audio, cache_dir=cache_dir, limit=cfg.limit)
    tr = load_examples("audio", "train", data_dir, audio_copies=1, **kw)
    va = load_examples("audio", "val", data_dir, **kw)
    one = replace(va, labels=va.labels[:1], audio=va.audio[:1], audio_labels=va.audio_labels[:1],
                  speakers=va.speakers[:1])
    res = train(cfg, tmp_path / "m", data_dir, device="cpu", examples=(tr, one))
    acc = [h["val_accuracy"] for h in res.metrics["history"]]
    best = [i for i, a in enumerate(acc) if a == max(acc)]
    assert len(best) >= 2 and best[-1] == len(acc) - 1, acc  # the run this test needs: ties, the last one final
    assert res.metrics["best_epoch"] == best[-1]
    # ties do not reset the patience: the run went on only while something improved
    assert len(acc) == 6 or len(acc) - 1 - best[0] == 3
    final = torch.load(tmp_path / "m.ckpt" / "checkpoint.pt", weights_only=True)["model"]
    kept = load_model(res.model_dir).weights
    for k in kept:
        np.testing.assert_array_equal(kept[k], final[k].numpy(), err_msg=k)
