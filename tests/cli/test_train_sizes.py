"""``snnapp train`` refuses network sizes no model folder may have, before it loads data or
allocates anything: the bounds are those a model folder's config.json must keep."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.core.errors import ConfigError
from snnapp.core.modelio import MAX_PARAMETERS
from snnapp.core.network import NetworkConfig


@pytest.mark.parametrize("options, match", [
    (["--mode", "audio", "--audio-hidden", "1000000,1000000"], "network.audio_hidden: 1000000 is outside 1-65536"),
    (["--mode", "audio", "--audio-hidden", "6000,6000,6000"], f"at most {MAX_PARAMETERS:,} are accepted"),
    (["--mode", "image", "--image-hidden", "100000"], "network.image_hidden: 100000 is outside 1-65536"),
    (["--mode", "multimodal", "--image-channels", "4096,4096"], f"at most {MAX_PARAMETERS:,} are accepted"),
    (["--mode", "image", "--num-steps", "100000"], "network.num_steps: 100000 is outside 1-1000"),
])
def test_absurd_sizes_are_refused_before_any_work(tmp_path: Path, options: list[str], match: str) -> None:
    env = {"SNNAPP_DATA_DIR": str(tmp_path / "no-data"), "SNNAPP_CACHE_DIR": str(tmp_path / "cache")}
    t0 = time.monotonic()
    res = CliRunner().invoke(app, ["train", *options, "--limit", "16", "--audio-copies", "0", "--epochs", "1",
                                   "--device", "cpu", "--out", str(tmp_path / "model")], env=env)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], res.stderr
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "model").exists() and not (tmp_path / "model.ckpt").exists()  # nothing claimed


def test_the_network_config_keeps_the_model_folder_bounds() -> None:
    ok = NetworkConfig(mode="audio", audio_hidden=(512, 512))
    with pytest.raises(ConfigError, match="audio_hidden"):
        NetworkConfig(mode="audio", audio_hidden=(10**6, 10**6))
    with pytest.raises(ConfigError, match="parameters"):  # also where the inputs are filled in later
        replace(ok, audio_in_features=200_000)
    # an image model has no audio branch to size: its parameter count leaves the audio sizes out
    NetworkConfig(mode="image", audio_hidden=(1 << 16,) * 16)
    with pytest.raises(ConfigError, match="parameters"):
        NetworkConfig(mode="audio", audio_hidden=(1 << 16,) * 16)
