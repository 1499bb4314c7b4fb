"""``snnapp train``: its options reach the saved model's configuration."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.core.modelio import load_model


def _train(args: list[str], data_dir: Path, cache_dir: Path):
    env = {"SNNAPP_DATA_DIR": str(data_dir), "SNNAPP_CACHE_DIR": str(cache_dir)}
    return CliRunner().invoke(app, ["train", "--epochs", "1", "--batch-size", "32", "--device", "cpu", *args], env=env)


def test_architecture_options_reach_the_config(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    out = tmp_path / "image"
    res = _train(["--mode", "image", "--limit", "64", "--image-channels", "4,6", "--image-hidden", "16",
                  "--num-steps", "3", "--dropout", "0.3", "--dropout-mask", "sample", "--pool-before-spike",
                  "--out", str(out)], data_dir, cache_dir)
    assert res.exit_code == 0, res.output
    cfg = load_model(out).config
    net = cfg.network
    assert (net.image_channels, net.image_hidden, net.num_steps) == ((4, 6), 16, 3)
    assert net.dropout == 0.3 and net.dropout_mask == "sample" and net.pool_before_spike is True
    assert "conv 4c3 - pool - spikes" in (out / "MODEL_CARD.md").read_text()


def test_audio_copies_feature_masks_mfcc_and_the_default_pooling(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    out = tmp_path / "audio"
    res = _train(["--mode", "audio", "--limit", "64", "--audio-hidden", "16", "--audio-copies", "0",
                  "--feature-masks", "2", "--n-mfcc", "13", "--num-steps", "8", "--no-deltas", "--out", str(out)],
                 data_dir, cache_dir)
    assert res.exit_code == 0, res.output
    cfg = load_model(out).config
    assert cfg.training["audio_copies"] == 0 and cfg.network.pool_before_spike is False
    assert cfg.network.dropout_mask == "step"
    assert cfg.training["feature_masks"] == 2
    assert cfg.audio.n_mfcc == 13 and cfg.network.audio_in_features == 13 * 32 // 8  # 4 frames per step
    assert cfg.audio.deltas is False and "13 MFCC," in (out / "MODEL_CARD.md").read_text()
    deltas = tmp_path / "deltas"
    res = _train(["--mode", "audio", "--limit", "64", "--audio-hidden", "16", "--audio-copies", "0", "--n-mfcc", "13",
                  "--deltas", "--num-steps", "8", "--out", str(deltas)], data_dir, cache_dir)
    assert res.exit_code == 0, res.output
    cfg = load_model(deltas).config
    assert cfg.audio.deltas is True and cfg.network.audio_in_features == 26 * 32 // 8
    assert "13 MFCC and their deltas" in (deltas / "MODEL_CARD.md").read_text()
    res = _train(["--mode", "audio", "--n-mfcc", "50", "--out", str(tmp_path / "y")], data_dir, cache_dir)
    assert res.exit_code == 2 and "n_mfcc (50) <= n_mels (40)" in res.output
    res = _train(["--mode", "audio", "--dropout", "1.5", "--out", str(tmp_path / "x")], data_dir, cache_dir)
    assert res.exit_code == 2 and "dropout" in res.output.lower()
