"""File names that are not UTF-8 or hold control characters, and standard output that cannot be
written (closed, a full device, a pipe nobody reads), through the real ``snnapp`` command.

Names are given to the command as bytes, as a shell passes them; what it prints of a name is one
line with undecodable bytes as ``\\xNN`` (``shown``). A command that cannot write its output says
so in one line on stderr and exits with 2, never 0 with nothing printed, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from snnapp.core.modelio import shown
from snnapp.core.preprocess import load_wav, stream_wav

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "snnapp" / "assets" / "samples"
FSDD_WAV = "0_george_0.wav"


def _snnapp(*args: str | bytes, stdout=subprocess.PIPE, env: dict | None = None, shell_redirect: str = "",
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m snnapp.cli ARGS``; ``shell_redirect`` (e.g. ``>&-``) is applied by a shell around it."""
    cmd: list[str | bytes] = [sys.executable, "-m", "snnapp.cli", *args]
    if shell_redirect:
        cmd = ["bash", "-c", f'exec "$@" {shell_redirect}', "bash", *cmd]
    return subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def _one_error_line(res: subprocess.CompletedProcess, *words: str) -> str:
    err = res.stderr.decode("utf-8", "replace")
    assert res.returncode == 2, (res.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for w in words:
        assert w in lines[0], err
    return lines[0]


@pytest.fixture
def wav(data_dir: Path) -> Path:
    return data_dir / "fsdd" / "recordings" / FSDD_WAV


# ------------------------------------------------------------------------ names that are not UTF-8

def test_a_wav_whose_name_is_not_utf8_is_read(wav: Path, tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/bad\xffname.wav"
    shutil.copyfile(wav, raw)
    want, rate = load_wav(wav)
    for given in (raw, os.fsdecode(raw), Path(os.fsdecode(raw))):
        got, got_rate = load_wav(given)
        assert got_rate == rate and (got == want).all()
    r, blocks = stream_wav(raw, 0.05)
    assert r == rate and sum(len(b) for b in blocks) == len(want)


def test_predict_an_audio_file_whose_name_is_not_utf8(wav: Path, tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/bad\xffname.wav"
    shutil.copyfile(wav, raw)
    res = _snnapp("predict", "--audio", raw)
    assert res.returncode == 0, res.stderr.decode()
    line = res.stdout.decode("utf-8")  # valid UTF-8: the byte is shown as \xff
    assert line.count("\n") == 1 and line.startswith(f"{tmp_path}/bad\\xffname.wav: 0 (p="), line
    res = _snnapp("predict", "--audio", raw, "--json")
    assert res.returncode == 0, res.stderr.decode()
    row = json.loads(res.stdout)
    assert os.fsencode(row["input"]) == raw and row["digit"] == 0 and "error" not in row


def test_the_card_of_a_model_trained_from_a_command_with_such_bytes(tmp_path: Path) -> None:
    """The command recorded in metrics.json may hold any bytes of argv; the card shows them escaped."""
    import torch

    from snnapp.core.modelcard import CARD
    from snnapp.core.modelio import ModelConfig, load_model, save_model, update_metrics
    from snnapp.core.network import NetworkConfig, SpikingDigitNet
    from snnapp.core.torch_model import weights_of

    torch.manual_seed(0)
    net = NetworkConfig(mode="audio", num_steps=4, audio_in_features=160, audio_hidden=(8,))
    command = "snnapp train --out " + os.fsdecode(b"runs/bad\xffname") + " --seed '1\n2'"
    folder = save_model(tmp_path / "m", ModelConfig(net), weights_of(SpikingDigitNet(net)),
                        {"command": command, "epochs_run": 1}, card=True)
    card = (folder / CARD).read_text(encoding="utf-8")
    assert "snnapp train --out runs/bad\\xffname --seed '1\\n2'\n" in card
    assert load_model(folder).metrics["command"] == command  # the metrics keep the command as given
    update_metrics(folder, {"note": os.fsdecode(b"\xfe")}, card=True)  # the card is rewritten as well
    assert "bad\\xffname" in (folder / CARD).read_text(encoding="utf-8")


def test_train_into_a_folder_whose_name_is_not_utf8(data_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    out = os.fsencode(tmp_path) + b"/bad\xffmodel"
    res = _snnapp("train", "--mode", "audio", "--epochs", "1", "--limit", "24", "--batch-size", "8",
                  "--audio-copies", "0", "--audio-hidden", "8", "--num-steps", "4", "--device", "cpu", "--out", out,
                  env={"SNNAPP_DATA_DIR": str(data_dir), "SNNAPP_CACHE_DIR": str(cache_dir)})
    assert res.returncode == 0, res.stderr.decode("utf-8", "replace")[-3000:]
    assert res.stdout.decode("utf-8").startswith(f"{tmp_path}/bad\\xffmodel: validation accuracy ")
    from snnapp.core.modelio import load_model

    model = load_model(os.fsdecode(out))
    assert os.fsencode(model.metrics["command"]).endswith(b"--out '" + out + b"'")  # as argv had it, quoted
    card = (Path(os.fsdecode(out)) / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"--out '{tmp_path}/bad\\xffmodel'\n" in card


# ------------------------------------------------------------------------ control characters

def test_a_newline_in_a_file_name_stays_on_one_line(wav: Path, tmp_path: Path) -> None:
    name = tmp_path / "new\nline.wav"
    shutil.copyfile(wav, name)
    bad = tmp_path / "no\ttext\n.wav"
    bad.write_text("not audio")
    res = _snnapp("predict", "--audio", str(name), "--audio", str(bad))
    out, err = res.stdout.decode(), res.stderr.decode()
    assert res.returncode == 2, err
    assert out.count("\n") == 1 and out.startswith(f"{tmp_path}/new\\nline.wav: 0 (p="), out
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path}/no\\ttext\\n.wav: "), err
    res = _snnapp("listen", "--audio-file", str(bad), "--fast")
    _one_error_line(res, shown(bad))


# ------------------------------------------------------------------------ stdout that cannot be written

@pytest.mark.parametrize("command", [["predict", "--audio"], ["listen", "--fast", "--audio-file"]])
def test_stdout_closed(command: list[str], wav: Path) -> None:
    _one_error_line(_snnapp(*command, str(wav), shell_redirect=">&-"), "standard output")


@pytest.mark.parametrize("command", [["predict", "--audio"], ["listen", "--fast", "--audio-file"]])
def test_stdout_full(command: list[str], wav: Path) -> None:
    with open("/dev/full", "wb") as full:
        res = _snnapp(*command, str(wav), stdout=full)
    _one_error_line(res, "standard output", "no space left")


def test_stdout_a_pipe_nobody_reads(wav: Path) -> None:
    """As ``snnapp predict ... | head -0``: nothing more is wanted, so the command ends quietly
    with the status of a process SIGPIPE killed, no traceback and no error line."""
    r, w = os.pipe()
    os.close(r)
    try:
        res = _snnapp("predict", "--audio", str(wav), "--json", stdout=w)
    finally:
        os.close(w)
    assert res.returncode == 141 and res.stderr.decode() == "", res.stderr


def test_evaluate_json_into_a_full_device(data_dir: Path, cache_dir: Path) -> None:
    """Output written after the work (outside any command's own error handling) is checked too."""
    with open("/dev/full", "wb") as full:
        res = _snnapp("evaluate", str(ROOT / "snnapp" / "assets" / "models" / "audio"), "--split", "val", "--limit", "8",
                      "--json", "--device", "cpu", stdout=full,
                      env={"SNNAPP_DATA_DIR": str(data_dir), "SNNAPP_CACHE_DIR": str(cache_dir)})
    _one_error_line(res, "standard output", "no space left")


# ------------------------------------------------------------------------ a cache that cannot be written

def test_evaluate_with_a_cache_that_is_a_file(data_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache should be")
    for env in ({"SNNAPP_CACHE_DIR": str(blocker)}, {"SNNAPP_CACHE_DIR": "", "XDG_CACHE_HOME": str(blocker)}):
        res = _snnapp("evaluate", str(ROOT / "snnapp" / "assets" / "models" / "audio"), "--split", "val",
                      "--limit", "8", "--json", "--device", "cpu", env={"SNNAPP_DATA_DIR": str(data_dir), **env})
        err = res.stderr.decode()
        assert res.returncode == 0, err[-3000:]
        assert json.loads(res.stdout)["n"] == 8
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "feature cache" in lines[0] and str(blocker) in lines[0], err
        assert blocker.read_text() == "a file where the cache should be"
