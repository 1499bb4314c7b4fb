"""A full disk while writing: model folders, metrics, training checkpoints and exports.

On a small tmpfs filled to the last byte (and then with 1, 2, ... pages free, so that every write
of a save is the one that fails), and with ENOSPC raised at every write where no tmpfs can be
mounted: the error is a :class:`DiskError` ("no space left on <folder>"), the previous model or
checkpoint is intact and loadable, and no temporary file or folder is left behind.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.core import _atomic, modelio
from snnapp.core.errors import SnnappError
from snnapp.core.examples import Examples
from snnapp.core.export import export_onnx
from snnapp.core.modelio import DiskError, ModelConfig, load_model, save_model, update_metrics
from snnapp.core.network import NetworkConfig, SpikingDigitNet
from snnapp.core.torch_model import weights_of
from snnapp.core.training import TrainConfig, train
from snnapp.core.training._trainer import _save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096
NET = NetworkConfig(mode="audio", num_steps=4, audio_in_features=160, audio_hidden=(32,))


def _weights(seed: int) -> dict[str, np.ndarray]:
    torch.manual_seed(seed)
    return weights_of(SpikingDigitNet(NET))


def _save(folder: Path, seed: int) -> Path:
    return save_model(folder, ModelConfig(NET, temperature=2.0), _weights(seed), {"seed": seed})


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _same_weights(folder: Path, seed: int) -> bool:
    got, want = load_model(folder).weights, _weights(seed)
    return got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 200 kB tmpfs of its own, to fill."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill ({mounted.stderr.strip() or mounted.returncode}); "
                    "the simulated ENOSPC tests below cover the same code")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` to the last byte, then free ``leave`` bytes."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    block = b"\0" * PAGE
    try:
        while True:
            os.write(fd, block)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    size = (disk / "filler").stat().st_size
    os.truncate(disk / "filler", max(0, size - leave))


def _names(disk: Path) -> list[str]:
    return sorted(p.name for p in disk.iterdir())


# --- a real full disk ------------------------------------------------------------------------

def test_save_over_a_model_with_ever_less_space(disk: Path) -> None:
    """Every amount of free space from none to enough: refused cleanly or saved, never half."""
    outcomes = []
    for pages in range(0, 16):
        folder = _save(disk / "model", seed=1)
        before = _snapshot(folder)
        fill(disk, leave=pages * PAGE)
        try:
            _save(folder, seed=2)
        except DiskError as exc:
            assert str(exc).startswith(f"cannot write {folder}: no space left on {disk}"), exc
            assert exc.errno == errno.ENOSPC and isinstance(exc, SnnappError) and isinstance(exc, OSError)
            assert _snapshot(folder) == before and _same_weights(folder, 1)
            outcomes.append("refused")
        else:
            assert _same_weights(folder, 2)
            outcomes.append("saved")
        assert _names(disk) == ["filler", "model"]  # no temporary folder left behind
        (disk / "filler").unlink()
    print(outcomes)
    assert outcomes[0] == "refused" and outcomes[-1] == "saved"
    assert outcomes.count("refused") >= 4  # the weights, config, metrics and manifest writes each failed once


def test_first_save_on_a_full_disk_leaves_nothing(disk: Path) -> None:
    fill(disk)
    with pytest.raises(DiskError, match=f"no space left on {disk}"):
        _save(disk / "model", seed=1)
    assert _names(disk) == ["filler"]


@pytest.mark.parametrize("pages", [0, 1, 2])
def test_update_metrics_on_a_full_disk(disk: Path, pages: int) -> None:
    folder = _save(disk / "model", seed=1)
    before = _snapshot(folder)
    fill(disk, leave=pages * PAGE)
    with pytest.raises(DiskError, match="cannot write .*: no space left on "):
        update_metrics(folder, {"test": {"accuracy": 0.5, "notes": "x" * 3 * PAGE}})
    assert _snapshot(folder) == before and load_model(folder).metrics == {"seed": 1}
    assert _names(disk) == ["filler", "model"]


def _payload(n: int) -> dict:
    return {"epoch": n, "model": {"w": torch.arange(n * 1000, dtype=torch.float32)}}


def test_checkpoint_write_on_a_full_disk(disk: Path) -> None:
    path = disk / "model.ckpt" / "checkpoint.pt"
    _save_checkpoint(path, _payload(5))
    fill(disk, leave=PAGE)
    with pytest.raises(DiskError, match=rf"cannot write {path}: no space left on {path.parent}"):
        _save_checkpoint(path, _payload(20))
    ck = torch.load(path, weights_only=True)
    assert ck["epoch"] == 5 and torch.equal(ck["model"]["w"], _payload(5)["model"]["w"])
    assert _names(path.parent) == ["checkpoint.pt"]


def _examples(n: int, seed: int) -> Examples:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    audio = rng.standard_normal((n, 1, 32, 20)).astype(np.float32) + labels[:, None, None, None]
    return Examples("audio", labels, audio=audio, audio_labels=labels, speakers=np.array(["x"] * n))


def test_training_on_a_full_disk(disk: Path) -> None:
    """The first checkpoint does not fit: a one-line error, no checkpoint, no model folder."""
    fill(disk, leave=PAGE)
    cfg = TrainConfig(network=NetworkConfig(mode="audio", num_steps=4, audio_hidden=(64, 64)), epochs=2,
                      batch_size=16, augment=False)
    with pytest.raises(DiskError, match=r"checkpoint\.pt: no space left on "):
        train(cfg, disk / "model", Path("unused"), device="cpu", examples=(_examples(64, 0), _examples(32, 1)))
    assert _names(disk) == ["filler"]  # not even the empty checkpoint folder the run made


@pytest.fixture
def exported(disk: Path) -> Path:
    folder = _save(disk / "model", seed=1)
    export_onnx(folder)
    return folder


def test_exports_on_a_full_disk(exported: Path, disk: Path) -> None:
    from snnapp.core.export_quant import quantize

    before = _snapshot(exported)
    fill(disk)
    for do in (lambda: export_onnx(exported), lambda: export_onnx(exported, kind="window"),
               lambda: export_onnx(exported, out=disk / "out" / "net.onnx"), lambda: quantize(exported)):
        with pytest.raises(DiskError, match="no space left on"):
            do()
        assert _snapshot(exported) == before
        load_model(exported)
        assert _names(disk) in (["filler", "model"], ["filler", "model", "out"])
    assert not (disk / "out").exists() or _names(disk / "out") == []
    # the command line: one line naming the file and the reason, no traceback
    result = CliRunner().invoke(app, ["export", str(exported)])
    assert result.exit_code == 2 and "no space left on" in result.output and "Traceback" not in result.output
    assert _snapshot(exported) == before


_NIR = """
import sys
from snnapp.core.errors import ModelError
from snnapp.core.export_nir import export_nir
for out in (None, sys.argv[2]):
    try:
        export_nir(sys.argv[1], out=out)
    except ModelError as exc:
        print(type(exc).__name__, exc)
"""


def test_nir_export_on_a_full_disk(exported: Path, disk: Path) -> None:
    """h5py writing to a full disk crashed the process (SIGSEGV): the file is now built in memory."""
    pytest.importorskip("nir")
    before = _snapshot(exported)
    fill(disk)
    run = subprocess.run([sys.executable, "-c", _NIR, str(exported), str(disk / "model.nir")], capture_output=True,
                         text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("DiskError") and "no space left on" in line for line in lines)
    assert _snapshot(exported) == before and _names(disk) == ["filler", "model"]


# --- ENOSPC simulated at every write (no mount needed) ---------------------------------------

class _FullAt:
    """Replaces the writer of new files: the k-th write raises ENOSPC after writing half its bytes."""

    def __init__(self, k: int | None) -> None:
        self.k, self.calls = k, 0
        self.real = _atomic._write_new

    def __call__(self, path: Path, data) -> None:
        self.calls += 1
        if self.calls == self.k:
            with open(path, "xb") as f:
                f.write(bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        self.real(path, data)


def _sweep(monkeypatch: pytest.MonkeyPatch, setup, action, check_unchanged) -> int:
    """Count the writes of ``action``, then fail each in turn; returns how many there are."""
    count = _FullAt(None)
    state = setup()
    monkeypatch.setattr(_atomic, "_write_new", count)
    action(state)
    monkeypatch.setattr(_atomic, "_write_new", count.real)
    assert count.calls > 0
    for k in range(1, count.calls + 1):
        state = setup()
        monkeypatch.setattr(_atomic, "_write_new", _FullAt(k))
        with pytest.raises(DiskError, match="no space left on"):
            action(state)
        monkeypatch.setattr(_atomic, "_write_new", count.real)
        check_unchanged(state)
    return count.calls


def test_simulated_enospc_at_every_write_of_save_and_update(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def setup() -> tuple[Path, dict]:
        folder = _save(tmp_path / "model", seed=1)
        return folder, _snapshot(folder)

    def unchanged(state) -> None:
        folder, before = state
        assert _snapshot(folder) == before and _same_weights(folder, 1)
        assert _names(tmp_path) == ["model"]

    saves = _sweep(monkeypatch, setup, lambda s: _save(s[0], seed=2), unchanged)
    updates = _sweep(monkeypatch, setup, lambda s: update_metrics(s[0], {"x": 1}), unchanged)
    assert (saves, updates) == (4, 3)  # weights, config, metrics, manifest / metrics, manifest twice


def test_simulated_enospc_at_every_write_of_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def setup() -> tuple[Path, dict]:
        folder = _save(tmp_path / "model", seed=1)
        export_onnx(folder)
        (folder / "MODEL_CARD.md").write_text("card")
        modelio.write_manifest(folder)
        (tmp_path / "net.onnx").unlink(missing_ok=True)
        return folder, _snapshot(folder)

    def unchanged(state) -> None:
        folder, before = state
        assert _snapshot(folder) == before
        load_model(folder)
        assert _names(tmp_path) == ["model"]

    counts = [_sweep(monkeypatch, setup, action, unchanged) for action in (
        lambda s: export_onnx(s[0]), lambda s: export_onnx(s[0], out=tmp_path / "net.onnx"))]
    # model.onnx, the manifest, the card, the manifest twice more / the file
    assert counts == [5, 1]


def test_simulated_enospc_at_checkpoint_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.ckpt" / "checkpoint.pt"
    _save_checkpoint(path, _payload(5))
    monkeypatch.setattr(_atomic, "_write_new", _FullAt(1))
    with pytest.raises(DiskError, match=rf"cannot write {path}: no space left on {path.parent}"):
        _save_checkpoint(path, _payload(6))
    assert torch.load(path, weights_only=True)["epoch"] == 5 and _names(path.parent) == ["checkpoint.pt"]


def test_killed_export_leaves_no_name_in_the_manifest(tmp_path: Path) -> None:
    """A temporary file left in a folder by a killed writer is never listed in the manifest (a
    listed hidden name makes the folder unloadable), and the next change of the folder drops it."""
    folder = _save(tmp_path / "model", seed=1)
    (folder / ".model.onnx.tmp-999999-abcd").write_bytes(b"half an onnx")
    (folder / "MODEL_CARD.md.part").write_text("half a card")
    update_metrics(folder, {"x": 1})
    assert set(json.loads((folder / "manifest.json").read_text())["sha256"]) == {
        "weights.safetensors", "config.json", "metrics.json"}
    assert load_model(folder).metrics == {"seed": 1, "x": 1} and _names(folder) == [
        "config.json", "manifest.json", "metrics.json", "weights.safetensors"]
