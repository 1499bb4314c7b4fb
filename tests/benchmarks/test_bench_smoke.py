"""Smoke test of ``benchmarks/bench_training.py`` at toy sizes (seconds), and a check that the
benchmark's snnapp-built network computes what snnTorch's tutorial network computes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from . import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_training.py"


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_training")


@pytest.fixture(scope="module")
def toy_data(bench):
    """Random digits, enough for a few batches: the functions run without the real data set."""
    rng = np.random.default_rng(0)
    x = (rng.random((96, 28, 28)) * 255).astype(np.uint8)
    return bench.Mnist(x[:64], rng.integers(0, 10, 64), x[64:], rng.integers(0, 10, 32))


def _data_dir() -> Path:
    return Path(os.environ.get("SNNAPP_DATA_DIR") or SCRIPT.parents[2] / "shared" / "data")


@pytest.mark.parametrize("fold", [False, True])
def test_pieces_network_matches_snntorch(bench, fold):
    torch.manual_seed(1)
    tut = bench.tutorial_net()
    with torch.no_grad():  # stronger weights, so that every layer spikes and resets
        for i in (0, 3, 7):
            tut[i].weight.mul_(4.0)
    pieces = bench.PiecesNet(fold=fold).copy_from(tut)
    spikes = (torch.rand(8, 3, 1, 28, 28) < 0.5).float()
    bench.utils.reset(tut)
    out_tut = torch.stack([tut(spikes[t])[0] for t in range(8)])
    out_pieces = pieces(spikes)
    assert 0 < out_tut.mean() < 0.9
    torch.testing.assert_close(out_pieces, out_tut)
    out_tut.sum().backward()
    out_pieces.sum().backward()
    for a, b in ((pieces.conv1, tut[0]), (pieces.conv2, tut[3]), (pieces.fc, tut[7])):
        torch.testing.assert_close(a.weight.grad, b.weight.grad)


def test_throughput_profile_and_ratios(bench, toy_data):
    res = {"config": bench.asdict(bench.QUICK), "environment": {"threads": 1}, "throughput": bench.run_throughput(bench.QUICK, toy_data)}
    tp = res["throughput"]
    assert tp["baseline"]["samples_per_s"] > 0 and tp["default"]["samples_per_s"] > 0
    assert {"per-step", "folded", "folded + channels_last"} <= set(tp["pieces"])
    assert set(tp["inference"]) == {"baseline", "default"}
    assert abs(sum(tp["baseline_profile"]["groups"].values()) - 1.0) < 1e-6
    res["ratios"] = bench.ratios(res)
    assert res["ratios"]["default"] > 0
    assert "| baseline: snnTorch tutorial, T=25" in bench.report(res)


@pytest.mark.parametrize("kind", ["baseline", "default"])
def test_time_to_accuracy(bench, toy_data, kind):
    missed = bench.time_to_accuracy(kind, target=1.01, max_seconds=0.5, data=toy_data, cfg=bench.QUICK)
    assert not missed["reached"] and 0.0 <= missed["best_subset_accuracy"] <= 1.0
    assert missed["history"] and missed["test_accuracy"] is not None
    hit = bench.time_to_accuracy(kind, target=0.0, max_seconds=5.0, data=toy_data, cfg=bench.QUICK)
    assert hit["reached"] and hit["train_s"] > 0 and hit["test_images"] == len(toy_data.test_y)


def test_main_quick_writes_json(bench, tmp_path, capsys):
    if not (_data_dir() / "mnist").is_dir():
        pytest.skip(f"MNIST not found at {_data_dir()}")
    out = tmp_path / "bench.json"
    bench.main(["--quick", "--skip-time-to-accuracy", "--data-dir", str(_data_dir()), "--json-out", str(out)])
    res = json.loads(out.read_text())
    assert res["throughput"]["baseline"]["samples_per_s"] > 0 and "default" in res["ratios"]
    assert "| samples/s | x baseline |" in capsys.readouterr().out


def test_the_default_side_is_what_train_trains_by_default(bench):
    """"default" measures ``snnapp train --mode image`` with no options: the image recipe, which
    is the shipped image model's (its audio branch sizes aside, which an image network has not)."""
    from snnapp.core.modelio import load_model
    from snnapp.core.predict import shipped_model
    from snnapp.core.training import load_recipe

    shipped = load_model(shipped_model("image")).config
    side = bench.build_side("default")
    assert side.net.cfg == load_recipe("image").config().network
    image_only = lambda net: {k: v for k, v in net.to_dict().items() if not k.startswith("audio_")}  # noqa: E731
    assert image_only(side.net.cfg) == image_only(shipped.network)
    assert bench.shipped_recipe().epochs == shipped.training["epochs"]
