"""A soak run: the window with replayed audio and a looping camera video, offscreen, for a while.

Memory must level off (no growth beyond a small bound after warm-up), the rasters must keep their
frame rate, decisions must keep coming, and at close every thread must end. ``SNNAPP_SOAK_S``
sets the length (default 150 s; the figures in benchmarks/RESULTS.md come from a longer run).
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("cv2")
pytest.importorskip("PyQt6")

from snnapp.app._settings import AppSettings, open_store  # noqa: E402
from snnapp.app._window import MainWindow  # noqa: E402
from tests.app.paper_kit import render, write_video  # noqa: E402

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "snnapp", "assets", "samples", "audio")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
def test_soak_replayed_audio_and_camera(qtbot, tmp_path, digits):  # noqa: F811
    length = float(os.environ.get("SNNAPP_SOAK_S", "150"))
    rng = np.random.default_rng(0)
    frames = [render(digits[d], rng, angle=rng.uniform(-6, 6))[0] for d in (2, 3, 4) for _ in range(15)]
    video = write_video(tmp_path / "loop.avi", frames, 15)
    threads_before = set(threading.enumerate())
    win = MainWindow(AppSettings(backend="onnx", camera=str(video)), open_store(tmp_path / "s.ini"))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "onnx" in win.engine_label.text(), timeout=60_000)
    win.camera.set_source(str(video), loop=True)
    win.camera.start()
    win.mic.set_source(audio_file=os.path.join(SAMPLES, "7_espeak.wav"), loop=True)
    win.mic.start()
    start = time.monotonic()
    samples: list[tuple[float, float, int, int]] = []
    fps: list[float] = []
    while time.monotonic() - start < length:
        qtbot.wait(2000)
        samples.append((time.monotonic() - start, rss_mb(), win.decisions, win.raster.frames_drawn))
        if win.raster.fps() > 0:
            fps.append(win.raster.fps())
    win.close()
    t, rss, decisions, drawn = map(np.array, zip(*samples))
    warm = t >= min(45.0, length / 3)  # models, librosa and Qt caches settle in the first seconds
    growth = float(rss[warm].max() - rss[warm][0])
    rate = (decisions[-1] - decisions[warm][0]) / (t[-1] - t[warm][0])
    print(f"\nsoak {length:.0f} s: rss {rss[0]:.0f} -> {rss[-1]:.0f} MB (growth after warm-up {growth:.1f} MB), "
          f"{decisions[-1]} decisions ({rate:.1f}/s), {drawn[-1]} raster frames, "
          f"raster fps median {np.median(fps):.1f} min {np.min(fps):.1f}, utterances {win.mic.utterances}, "
          f"camera frames {win.camera.frames_seen}")
    assert growth < 40.0, f"memory grew by {growth:.1f} MB after warm-up"
    assert rate > 1.0, "decisions stopped coming"
    assert win.mic.utterances >= int(length / 3)  # the 7 is about 1.3 s with its pause
    assert win.camera.frames_seen >= 10 * length  # 15 fps video: no dropped-frame storm
    assert np.median(fps) >= 30.0
    assert not win.camera.running and not win.mic.running
    assert not win.inference._thread.isRunning()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and set(threading.enumerate()) - threads_before:
        time.sleep(0.1)
    assert not (set(threading.enumerate()) - threads_before), "threads still alive after close"
