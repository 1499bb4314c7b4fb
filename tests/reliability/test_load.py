"""Load at a small size, in one process (the full size is ``benchmarks/bench_load.py``): predict over a
few hundred PNG files and listen over a few minutes of replayed speech, with memory flat after
warm-up, no file handle left open, and every input answered right. The checks are shown to catch a
planted leak of memory and of file handles."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.benchmarks import load_script

#: Python-allocated memory a run may gain after warm-up: a leak of one 28x28 image per input
#: (3 KB) gains about 0.9 MB over these runs.
TRACED_MB = 0.4
#: Resident memory a run may gain after warm-up (allocator noise, onnxruntime arenas).
RSS_MB = 15.0

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_load")


@pytest.fixture(scope="module")
def pngs(bench, data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("load") / "images"
    labels = bench.write_mnist_pngs(data_dir, folder, 400)
    from snnapp.core.predict import IMAGE_SUFFIXES, files_in

    return files_in(folder, IMAGE_SUFFIXES), labels


def _flat(r) -> None:
    assert r.traced_growth_mb is not None and r.traced_growth_mb < TRACED_MB, r
    assert r.growth_mb < RSS_MB, r
    assert r.fds_after <= r.fds_before and r.fds_max <= r.fds_before + 1, r  # none leaked (some may close)


def test_predict_over_png_files_stays_flat(bench, pngs):
    files, labels = pngs
    r = bench.bench_predict(files, labels, backend="onnx", block=25, warmup=100, trace=True)
    assert r.extra["errors"] == 0 and r.accuracy >= 0.97, r
    _flat(r)
    assert r.stability > 0.3, r.quarter_rates  # no slowdown as inputs go by (loose: the CPU is shared)


def test_the_checks_catch_a_planted_leak(bench, pngs, monkeypatch):
    from snnapp.core.predict import Predictor

    kept: list[np.ndarray] = []
    handles = []
    run = Predictor.run

    def leaky(self, images, audio):
        kept.append(images.copy())  # e.g. a cache that is never emptied
        return run(self, images, audio)

    monkeypatch.setattr(Predictor, "run", leaky)
    files, labels = pngs
    try:
        r = bench.bench_predict(files, labels, backend="onnx", block=25, warmup=100, trace=True,
                                on_block=lambda _: handles.append(open(os.devnull)))  # noqa: SIM115
    finally:
        for h in handles:
            h.close()
    assert r.traced_growth_mb > TRACED_MB, r
    assert r.fds_after > r.fds_before, r


def test_listen_over_minutes_of_speech_stays_flat(bench, data_dir, tmp_path):
    timeline = bench.write_hour(data_dir, tmp_path / "speech.wav", 240)  # four minutes
    r = bench.bench_listen(tmp_path / "speech.wav", timeline, backend="onnx", every_s=10, warmup_s=60, trace=True)
    clips = r.extra["clips"]
    assert abs(r.extra["utterances"] - clips) <= 0.05 * clips, r.extra
    assert r.extra["found"] >= 0.95 * clips and r.extra["stray"] <= 0.02 * clips, r.extra
    assert r.accuracy >= 0.9, r.extra
    _flat(r)
    assert r.rate > 1.0  # faster than real time
