"""A virtual microphone for tests: a private PulseAudio daemon whose null sink ``vmic`` is also the default source.

Whatever ``play`` sends into the sink comes back, at real-time pace, from its monitor ``vmic.monitor``,
which ALSA's ``default`` device (and so PortAudio and sounddevice) records from while the daemon runs.
PortAudio lists devices only when it initialises, so the fixture re-scans after the daemon is up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


class PulseVmic:
    """A running daemon: ``env`` for subprocesses, ``play`` a WAV into the virtual microphone."""

    def __init__(self, runtime_dir: Path) -> None:
        self.runtime_dir = runtime_dir
        self.env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir))

    def _run(self, *cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, check=check, timeout=timeout)

    def start(self) -> None:
        self._run("pulseaudio", "-n", "--daemonize=yes", "--exit-idle-time=-1", "--disallow-exit",
                  f"--log-target=file:{self.runtime_dir}/pulse.log", "-L", "module-native-protocol-unix",
                  "-L", "module-null-sink sink_name=vmic rate=48000", "-L", "module-always-sink")
        for _ in range(100):
            if self.alive():
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"pulseaudio did not answer; see {self.runtime_dir}/pulse.log")
        self._run("pactl", "set-default-sink", "vmic")
        self._run("pactl", "set-default-source", "vmic.monitor")

    def alive(self) -> bool:
        return self._run("pactl", "info", check=False).returncode == 0

    def kill(self) -> None:
        self._run("pulseaudio", "--kill", check=False)
        for _ in range(100):  # the socket answers until the daemon is gone
            if not self.alive():
                return
            time.sleep(0.05)

    def play(self, path: str | Path) -> float:
        """Play ``path`` into the sink; returns when playback has drained, with ``time.monotonic()`` then."""
        self._run("paplay", str(path))
        return time.monotonic()

    def recording_clients(self) -> int:
        """How many streams record from the daemon now (a listening process shows up here)."""
        out = self._run("pactl", "list", "short", "source-outputs", check=False).stdout
        return len([line for line in out.splitlines() if line.strip()])


@pytest.fixture(scope="session")
def pulse_vmic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseVmic]:
    """A PulseAudio null sink as the default microphone of this process and its children."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (Debian packages pulseaudio, pulseaudio-utils); "
                        "the virtual microphone needs it")
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        pytest.skip(f"sounddevice or PortAudio (libportaudio2) missing: {exc}")
    runtime_dir = tmp_path_factory.mktemp("xdg")
    os.chmod(runtime_dir, 0o700)  # pulseaudio refuses a runtime folder others can read
    pulse = PulseVmic(runtime_dir)
    pulse.start()
    old = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    sd._terminate()
    sd._initialize()
    try:
        yield pulse
    finally:
        pulse.kill()
        if old is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = old
        sd._terminate()
        sd._initialize()
