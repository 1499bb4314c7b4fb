"""What the app's user feels: latency from an input to a decision with its trace, and the cost of a raster frame.

Each input goes through the app's own ``Engine.infer`` (per-model preprocessing, the step-by-step
run that records every spike, the readout), on onnxruntime and on torch in the same process; the
ratio is onnx against torch. The raster figure is the time to draw one frame (all rows updated,
then Qt's paint) against the 25 ms a 40 fps timer allows.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_app.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from bench_inference import median_ms  # run as a script from the repository root: benchmarks/ is on the path
from snnapp.app._inference import SLOTS, Engine
from snnapp.core.predict import shipped_model
from snnapp.core.preprocess import load_image, load_wav

SAMPLES = Path(__file__).resolve().parents[1] / "snnapp" / "assets" / "samples"


def bench_engines(repeats: int) -> None:
    image = load_image(SAMPLES / "image" / "7_drawn.png")
    wav, rate = load_wav(SAMPLES / "audio" / "7_espeak.wav")
    inputs = {"drawing (280x280 pad size)": (image, None), "utterance": (None, (wav.mean(axis=1), rate)),
              "drawing + utterance (fused)": (image, (wav.mean(axis=1), rate))}
    engines = {kind: Engine({s: shipped_model(s) for s in SLOTS}, kind) for kind in ("onnx", "torch")}
    for e in engines.values():
        e.warm_up()
    print("| input | onnx (ms) | torch (ms) | torch / onnx |")
    print("|---|---|---|---|")
    for name, (img, aud) in inputs.items():
        # a new array object each call, so the app's per-input feature cache does not hide preprocessing
        ms = {k: median_ms(lambda e=e: e.infer(None if img is None else img.copy(),
                                               None if aud is None else (aud[0].copy(), aud[1])), repeats)
              for k, e in engines.items()}
        print(f"| {name} | {ms['onnx']:.1f} | {ms['torch']:.1f} | {ms['torch'] / ms['onnx']:.2f}x |")


def bench_raster(repeats: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication

    from snnapp.app._raster import FPS, RasterView

    app = QApplication.instance() or QApplication([])
    view = RasterView()
    view.resize(620, 520)
    view.show()
    image = load_image(SAMPLES / "image" / "7_drawn.png")
    wav, rate = load_wav(SAMPLES / "audio" / "7_espeak.wav")
    engine = Engine({s: shipped_model(s) for s in SLOTS}, "onnx")
    print("\n| trace | steps | one frame (ms) | budget at 40 fps (ms) | headroom |")
    print("|---|---|---|---|---|")
    for name, d in (("image model", engine.infer(image, None)),
                    ("audio model", engine.infer(None, (wav.mean(axis=1), rate))),
                    ("multimodal", engine.infer(image, (wav.mean(axis=1), rate)))):
        view.show_trace(d.trace)
        steps = d.trace.steps

        def frame() -> None:
            view._draw(max(1, steps // 2), steps)
            app.processEvents()

        ms = median_ms(frame, repeats)
        print(f"| {name} | {steps} | {ms:.2f} | {1000 / FPS:.0f} | {1000 / FPS / ms:.1f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    np.random.seed(0)
    bench_engines(args.repeats)
    bench_raster(args.repeats)


if __name__ == "__main__":
    main()
