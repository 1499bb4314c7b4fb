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


def test_noise_around_the_word_lowers_accuracy_and_a_probe_is_not_stored(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    import shutil

    from snnapp.core.modelio import load_model
    from snnapp.core.predict import shipped_model

    env = {"SNNAPP_DATA_DIR": str(data_dir), "SNNAPP_CACHE_DIR": str(cache_dir)}
    model = tmp_path / "audio"
    shutil.copytree(shipped_model("audio"), model)
    res = CliRunner().invoke(app, ["evaluate", str(model), "--noise", "white,hum", "--snr", "30,-5", "--limit", "40",
                                   "--json", "--device", "cpu"], env=env)
    assert res.exit_code == 0, res.output
    got = json.loads(res.output.strip().splitlines()[-1])
    assert got["kinds"] == ["white", "hum"] and got["snrs"] == [30.0, -5.0] and got["n"] == 40
    for kind in ("white", "hum"):
        assert got["accuracy"][kind]["-5"] < got["clean"]  # noise at -5 dB costs some words
    assert got["mean"]["30"] == (got["accuracy"]["white"]["30"] + got["accuracy"]["hum"]["30"]) / 2
    again = json.loads(CliRunner().invoke(app, ["evaluate", str(model), "--noise", "white,hum", "--snr", "30,-5",
                                                "--limit", "40", "--json", "--device", "cpu"], env=env)
                       .output.strip().splitlines()[-1])
    assert again["accuracy"] == got["accuracy"]  # the same rooms every time
    assert "noise" not in load_model(model).metrics  # a --limit probe is not stored
    res = CliRunner().invoke(app, ["evaluate", str(model), "--noise", "thunder"], env=env)
    assert res.exit_code == 2 and "thunder" in res.output and "babble" in res.output
    res = CliRunner().invoke(app, ["evaluate", str(model), "--noise", "white", "--snr", "loud"], env=env)
    assert res.exit_code == 2 and "--snr" in res.output


def test_a_noise_measure_of_the_whole_test_split_goes_into_metrics_and_card(tmp_path: Path, data_dir: Path,
                                                                          cache_dir: Path) -> None:
    import shutil

    from snnapp.core.modelio import load_model
    from snnapp.core.predict import shipped_model

    env = {"SNNAPP_DATA_DIR": str(data_dir), "SNNAPP_CACHE_DIR": str(cache_dir)}
    model = tmp_path / "audio"
    shutil.copytree(shipped_model("audio"), model)
    res = CliRunner().invoke(app, ["evaluate", str(model), "--noise", "pink", "--snr", "10", "--record",
                                   "--device", "cpu"], env=env)
    assert res.exit_code == 0, res.output
    assert "pink" in res.output and "10 dB" in res.output and "mean" in res.output
    noise = load_model(model).metrics["noise"]  # load_model checks the manifest: one step, never half
    assert noise["n"] == 300 and set(noise["accuracy"]) == {"pink"}
    card = (model / "MODEL_CARD.md").read_text()
    assert "In a noisy room" in card and f"| pink | {100 * noise['accuracy']['pink']['10']:.2f} % |" in card
