"""The app's microphone end to end: spoken FSDD digits played into a PulseAudio null sink are heard by
:class:`MicSource` (and by ``snnapp listen``), cut into utterances and recognised by the shipped audio model.

Timing notes: PortAudio's first callback comes 1-2 s after a stream opens and audio before it is lost,
so every test waits for the first level before it plays anything. Clips are padded with silence
(0.3 s before, 0.5 s after) because FSDD recordings start and end right at the speech.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from snnapp.app._microphone import LEVEL_FLOOR_DB, MicSource, list_input_devices, rescan

PAD_BEFORE, PAD_AFTER = 0.3, 0.5
CLIPS = {3: "3_theo_1", 7: "7_george_3", 9: "9_lucas_0"}  # FSDD test split (takes 0-4)


@dataclass
class Clip:
    digit: int
    path: Path  # padded WAV
    speech_s: float  # length of the recording without the padding
    total_s: float


@dataclass
class Heard:
    """Everything a MicSource reported, with the monotonic time of each utterance."""

    utterances: list[tuple[float, np.ndarray, int]] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    first_level: threading.Event = field(default_factory=threading.Event)

    def source(self, **kw) -> MicSource:
        def on_utterance(samples: np.ndarray, rate: int) -> None:
            self.utterances.append((time.monotonic(), samples, rate))

        def on_level(db: float) -> None:
            self.levels.append(db)
            self.first_level.set()

        return MicSource(on_utterance, on_level, self.errors.append, **kw)


def wait_until(pred: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


@pytest.fixture(scope="module")
def predict() -> Callable[[np.ndarray, int], int]:
    pytest.importorskip("onnxruntime")
    from snnapp.core.predict import shipped_model
    from snnapp.core.preprocess import audio_features
    from snnapp.core.runtime import open_backend

    b = open_backend(shipped_model("audio"), "onnx")

    def run(samples: np.ndarray, rate: int) -> int:
        return int(b.run(None, audio_features(samples, b.config.audio, rate)[None]).digits[0])

    return run


@pytest.fixture(scope="module")
def clips(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, predict) -> list[Clip]:
    """The FSDD clips, padded with silence; the model must get each right from the file itself."""
    out = []
    folder = tmp_path_factory.mktemp("clips")
    for digit, stem in CLIPS.items():
        x, rate = sf.read(data_dir / "fsdd" / "recordings" / f"{stem}.wav", dtype="float32")
        assert predict(x, rate) == digit, f"{stem}: the model gets the file itself wrong; pick another clip"
        padded = np.concatenate([np.zeros(int(PAD_BEFORE * rate), np.float32), x,
                                 np.zeros(int(PAD_AFTER * rate), np.float32)])
        path = folder / f"{stem}.wav"
        sf.write(path, padded, rate)
        out.append(Clip(digit, path, len(x) / rate, len(padded) / rate))
    return out


def started(heard: Heard, **kw) -> MicSource:
    """A running source whose first chunk has arrived (only then does the device really record)."""
    src = heard.source(**kw)
    src.start()
    assert heard.first_level.wait(15), f"no audio within 15 s: {heard.errors}"
    return src


def say(pulse, clip: Clip, heard: Heard, timeout: float = 4.0) -> float:
    """Play ``clip`` and wait for one more utterance; returns the delay from the end of the speech."""
    n = len(heard.utterances)
    drained = pulse.play(clip.path)
    assert wait_until(lambda: len(heard.utterances) > n, timeout), f"digit {clip.digit}: no utterance; {heard.errors}"
    return heard.utterances[-1][0] - (drained - PAD_AFTER)


# -- through the virtual microphone --------------------------------------------------------------


def test_pulse_shows_up_as_input_device(pulse_vmic) -> None:
    names = [n for _, n in rescan()]
    assert "default" in names and names == [n for _, n in list_input_devices()]


def test_microphone_hears_spoken_digits(pulse_vmic, clips, predict) -> None:
    heard = Heard()
    src = started(heard)
    try:
        assert src.rate == 16000 and src.name == "default"
        assert "default" in [n for _, n in rescan()]  # must not re-initialise PortAudio under an open stream
        latencies = [say(pulse_vmic, c, heard) for c in clips]
        time.sleep(0.3)  # nothing more may trickle in
    finally:
        assert src.stop()
    assert not src.running and heard.errors == []
    assert len(heard.utterances) == len(clips)
    got = [predict(s, r) for _, s, r in heard.utterances]
    assert got == [c.digit for c in clips]
    for (_, s, r), c in zip(heard.utterances, clips):
        assert r == 16000 and c.speech_s - 0.1 < len(s) / r < c.total_s
    print(f"utterance delivered {', '.join(f'{x:.2f}' for x in latencies)} s after the end of the speech")
    assert all(-0.1 < x < 1.5 for x in latencies)  # the segmenter's 0.25 s hangover plus sound server latency
    assert min(heard.levels) <= LEVEL_FLOOR_DB + 1 and -40 < max(heard.levels) < 0  # silence, then speech


def test_push_to_talk(pulse_vmic, clips, predict) -> None:
    heard = Heard()
    src = heard.source()
    src.set_push_to_talk(True)
    src.start()
    try:
        assert heard.first_level.wait(15), heard.errors
        pulse_vmic.play(clips[0].path)  # button up: speech is not an utterance
        time.sleep(0.5)
        assert heard.utterances == []
        src.press()  # a tap is no utterance
        time.sleep(0.05)
        src.release()
        time.sleep(0.3)
        assert heard.utterances == []
        src.press()
        pulse_vmic.play(clips[1].path)
        src.release()
        assert wait_until(lambda: len(heard.utterances) == 1, 2.0), heard.errors
        time.sleep(0.3)
    finally:
        assert src.stop()
    assert len(heard.utterances) == 1 and heard.errors == []
    _, samples, rate = heard.utterances[0]
    assert clips[1].total_s - 0.2 < len(samples) / rate < clips[1].total_s + 0.6
    assert predict(samples, rate) == clips[1].digit


def test_unsupported_rate_falls_back_to_the_device_rate(pulse_vmic, clips, predict) -> None:
    import sounddevice as sd

    heard = Heard()
    src = started(heard, rate=1_000_000)
    try:
        say(pulse_vmic, clips[2], heard)
    finally:
        assert src.stop()
    default_rate = int(sd.query_devices(None, "input")["default_samplerate"])
    assert src.rate == default_rate != 1_000_000 and heard.errors == []
    (_, samples, rate), = heard.utterances
    assert rate == default_rate and predict(samples, rate) == clips[2].digit


def test_lost_microphone_is_reported_and_reopened(pulse_vmic, clips, predict) -> None:
    heard = Heard()
    src = started(heard)
    try:
        pulse_vmic.kill()
        assert wait_until(lambda: heard.errors, 5.0), "losing the sound server went unnoticed"
        assert "microphone 'default'" in heard.errors[0] and "reopen" in heard.errors[0]
        assert src.running
        pulse_vmic.start()
        n = len(heard.levels)
        assert wait_until(lambda: len(heard.levels) > n + 10, 15.0), "no audio after the sound server came back"
        say(pulse_vmic, clips[0], heard)
    finally:
        assert src.stop()
        if not pulse_vmic.alive():  # later tests need it
            pulse_vmic.start()
    assert len(heard.errors) == 1 and not src.running
    assert predict(*heard.utterances[-1][1:]) == clips[0].digit


def test_listen_cli_hears_the_microphone(pulse_vmic, clips) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "from snnapp.cli import main; main()", "listen", "--backend", "onnx"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=pulse_vmic.env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        assert wait_until(lambda: pulse_vmic.recording_clients() > 0 or proc.poll() is not None, 60), "never started recording"
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(3.0)  # the first callback comes late; audio before it is lost
        pulse_vmic.play(clips[1].path)
        row = json.loads(lines.get(timeout=5))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert row["digit"] == clips[1].digit, row
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert lines.empty()


# -- without a sound server ----------------------------------------------------------------------


def test_replay_is_paced_like_a_microphone(clips, predict) -> None:
    clip = clips[0]
    heard = Heard()
    src = heard.source(audio_file=clip.path)
    t0 = time.monotonic()
    src.start()
    assert wait_until(lambda: not src.running, clip.total_s + 3)
    assert heard.errors == [] and len(heard.utterances) == 1
    at, samples, rate = heard.utterances[0]
    speech_end = PAD_BEFORE + clip.speech_s
    assert speech_end < at - t0 < speech_end + 0.8  # real-time pace: not before the speech has been "spoken"
    assert predict(samples, rate) == clip.digit and src.rate == rate == 8000
    assert len(heard.levels) == pytest.approx((clip.total_s + 0.5) / 0.05, abs=2)  # file_chunks adds 0.5 s
    assert src.stop()


def test_replay_loops_and_survives_failing_callbacks(clips) -> None:
    clip = clips[1]
    times: list[float] = []

    def on_utterance(samples: np.ndarray, rate: int) -> None:
        times.append(time.monotonic())
        raise RuntimeError("a broken slot")

    def on_level(db: float) -> None:
        raise ValueError("a broken meter")

    src = MicSource(on_utterance, on_level, lambda e: times.append(-1.0), audio_file=clip.path, loop=True)
    src.start()
    period = clip.total_s + 0.5
    try:
        assert wait_until(lambda: len(times) >= 2, 2 * period + 2), times
        assert src.running
    finally:
        t = time.monotonic()
        assert src.stop()
    assert time.monotonic() - t < 0.5 and not src.running
    assert -1.0 not in times
    assert times[1] - times[0] == pytest.approx(period, abs=0.25)


@pytest.mark.parametrize("device", [9999, "no such microphone"])
def test_bad_device_is_reported_not_raised(device) -> None:
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError):
        pytest.skip("sounddevice or PortAudio missing")
    heard = Heard()
    src = heard.source(device=device)
    src.start()
    assert wait_until(lambda: not src.running, 5)
    assert src.stop()
    assert len(heard.errors) == 1 and heard.levels == [] and heard.utterances == []
    assert heard.errors[0].startswith(f"microphone {str(device)!r}: no such input device"), heard.errors


def test_failing_error_callback_does_not_escape(monkeypatch) -> None:
    calls: list[str] = []

    def on_error(msg: str) -> None:
        calls.append(msg)
        raise RuntimeError("a broken error slot")

    src = MicSource(lambda s, r: None, lambda db: None, on_error, audio_file="/no/such/file.wav")
    src.start()
    assert wait_until(lambda: not src.running, 5) and src.stop()
    assert len(calls) == 1 and "/no/such/file.wav" in calls[0]


def test_without_sounddevice(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails, as without the package
    assert list_input_devices() == [] and rescan() == []
    heard = Heard()
    src = heard.source()
    src.start()
    assert wait_until(lambda: not src.running, 5) and src.stop()
    assert len(heard.errors) == 1
    assert heard.errors[0].startswith("microphone 'default': the microphone needs the sounddevice package and PortAudio")
