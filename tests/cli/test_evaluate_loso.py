"""``snnapp evaluate --loso``: retrain per held-out speaker; ``--speakers`` narrows it to a probe."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from snnapp.cli import app


def test_loso_probe_on_one_speaker(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    env = {"SNNAPP_DATA_DIR": str(data_dir), "SNNAPP_CACHE_DIR": str(cache_dir)}
    out = tmp_path / "audio"
    res = CliRunner().invoke(app, ["train", "--mode", "audio", "--limit", "64", "--epochs", "1", "--batch-size", "32",
                                   "--audio-hidden", "16", "--audio-copies", "0", "--num-steps", "8",
                                   "--device", "cpu", "--out", str(out)], env=env)
    assert res.exit_code == 0, res.output
    before = (out / "metrics.json").read_text()
    res = CliRunner().invoke(app, ["evaluate", str(out), "--loso", "--speakers", "george", "--json",
                                   "--device", "cpu"], env=env)
    assert res.exit_code == 0, res.output
    got = json.loads(res.output.strip().splitlines()[-1])
    assert set(got["per_speaker"]) == {"george"} and 0.0 <= got["mean_accuracy"] <= 1.0
    assert got["mean_accuracy"] == got["per_speaker"]["george"]
    assert (out / "metrics.json").read_text() == before  # a probe is not the full measure: not stored
    res = CliRunner().invoke(app, ["evaluate", str(out), "--loso", "--speakers", "george,bob"], env=env)
    assert res.exit_code == 2 and "bob" in res.output and "yweweler" in res.output
