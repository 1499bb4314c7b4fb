"""``snnapp listen`` with a microphone that is not there: one line naming it, never a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from snnapp.cli import app


@pytest.fixture(scope="module")
def sounddevice():
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        pytest.skip(f"sounddevice or PortAudio (libportaudio2) missing: {exc}")
    return sd


@pytest.mark.parametrize("device, named", [("unknown name", "microphone 'unknown name'"),
                                           ("no such\nmicrophone", "microphone 'no such\\nmicrophone'"),
                                           ("99999", "microphone 99999")])
def test_an_unknown_input_device_is_one_line(sounddevice, device: str, named: str) -> None:
    res = CliRunner().invoke(app, ["listen", "--device", device])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {named}: no such input device"), res.stderr
    assert "python -m sounddevice` lists all devices" in lines[0]
    assert lines[0].endswith("; pass --device with an index or a name"), lines[0]
    inputs = [d for d in sounddevice.query_devices() if d["max_input_channels"] > 0]
    for d in inputs:  # the devices there are, by index and name
        assert f"{d['index']} {d['name']!r}" in lines[0]
    if not inputs:
        assert "there is no input device here" in lines[0]
