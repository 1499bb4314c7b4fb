"""``snnapp train`` killed with SIGKILL at random moments and at every file-system step, then resumed.

After every kill: the checkpoint on disk is loadable (never half written), the model folder is
absent or complete with a valid manifest, and nothing that is being written is named like a
finished file. After ``--resume`` runs to the end, the model equals that of a run never stopped.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from snnapp.core.modelio import MANIFEST, load_model

ROOT = Path(__file__).resolve().parents[2]
MODEL_FILES = {"weights.safetensors", "config.json", "metrics.json", MANIFEST, "MODEL_CARD.md"}
#: Small enough for seconds per run, long enough (0.1-0.3 s an epoch, 20 epochs) to be killed mid-training.
ARGS = ["train", "--mode", "audio", "--limit", "200", "--epochs", "20", "--patience", "20", "--batch-size", "16",
        "--num-steps", "16", "--audio-hidden", "128,128", "--no-augment", "--device", "cpu"]
TINY = ["train", "--mode", "audio", "--limit", "96", "--epochs", "2", "--batch-size", "32", "--num-steps", "8",
        "--audio-hidden", "32", "--no-augment", "--device", "cpu"]


def _env(cache_dir: Path) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "SNNAPP_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT),
            "COLUMNS": "200"}


def _start(args: list[str], out: Path, data_dir: Path, cache_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "snnapp.cli", *args, "--out", str(out), "--data-dir", str(data_dir)],
                            env=_env(cache_dir), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _temporary(name: str, finished: str) -> bool:
    """The names writers use while writing ``finished``: hidden, with the writing process's id."""
    return re.fullmatch(rf"\.{re.escape(finished)}\.(tmp|old)-\d+-[0-9a-f]+", name) is not None


def check_consistent(out: Path) -> dict:
    """What a kill may leave: a loadable checkpoint or none, a valid model folder or none, hidden temps."""
    ckpt_dir = out.with_name(out.name + ".ckpt")
    state: dict = {"epoch": None, "model": out.exists(), "temps": []}
    for p in out.parent.iterdir():
        if p.name in (out.name, ckpt_dir.name):
            continue
        assert _temporary(p.name, out.name), f"unexpected {p} beside the model folder"
        state["temps"].append(p.name)
    if ckpt_dir.exists():
        for p in ckpt_dir.iterdir():
            if p.name != "checkpoint.pt":
                assert _temporary(p.name, "checkpoint.pt"), f"unexpected {p} in the checkpoint folder"
                state["temps"].append(p.name)
        ckpt = ckpt_dir / "checkpoint.pt"
        if ckpt.exists():
            ck = torch.load(ckpt, map_location="cpu", weights_only=True)  # raises if half written
            assert set(ck) >= {"epoch", "model", "optimizer", "best_model"}
            state["epoch"] = ck["epoch"]
    if out.exists():
        model = load_model(out)  # verifies every checksum of the manifest
        names = {p.name for p in out.iterdir()}
        assert names <= MODEL_FILES and {"weights.safetensors", "config.json", MANIFEST} <= names, names
        assert set(json.loads((out / MANIFEST).read_text())["sha256"]) == names - {MANIFEST}
        assert model.weights
    return state


def check_clean(out: Path) -> None:
    """After a run that ended normally: no temporary file of any killed run is left."""
    assert sorted(p.name for p in out.parent.iterdir()) == sorted([out.name, out.name + ".ckpt"])
    assert [p.name for p in out.with_name(out.name + ".ckpt").iterdir()] == ["checkpoint.pt"]
    assert {p.name for p in out.iterdir()} == MODEL_FILES


def weight_difference(a: Path, b: Path) -> float:
    wa, wb = load_model(a).weights, load_model(b).weights
    assert wa.keys() == wb.keys()
    return max(float(np.max(np.abs(wa[k].astype(np.float64) - wb[k]))) if wa[k].size else 0.0 for k in wa)


def _metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def _wait_for(predicate, proc: subprocess.Popen, timeout: float, poll: float = 0.001) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if predicate():
            return True
        time.sleep(poll)
    return False


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, cache_dir: Path) -> Path:
    """A run of ARGS never stopped (it also fills the feature cache for the runs that follow)."""
    out = tmp_path_factory.mktemp("reference") / "model"
    proc = _start(ARGS, out, data_dir, cache_dir)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    return out


def test_sigkill_at_random_moments_then_resume(reference: Path, tmp_path: Path, data_dir: Path,
                                                cache_dir: Path) -> None:
    out = tmp_path / "model"
    ckpt = out.with_name(out.name + ".ckpt") / "checkpoint.pt"
    rng = random.Random(20240917)

    def ckpt_mtime() -> int:
        return ckpt.stat().st_mtime_ns if ckpt.exists() else 0

    def writing_checkpoint() -> bool:
        return ckpt.parent.exists() and any(n.startswith(".checkpoint.pt.tmp-") for n in os.listdir(ckpt.parent))

    def writing_model() -> bool:
        return any(n.startswith(".model.tmp-") for n in os.listdir(tmp_path))

    # (what the kill aims at, how long after it is reached to wait): startup before any checkpoint,
    # mid-training at seeded random delays, the instant a checkpoint or the model folder is being written
    plan = [("startup", rng.uniform(0.3, 2.5)), ("training", rng.uniform(0.0, 1.0)),
            ("checkpoint write", 0.0), ("training", rng.uniform(0.0, 1.0)), ("model write", 0.0)]
    log = []
    for aim, delay in plan:
        proc = _start(ARGS + (["--resume"] if log else []), out, data_dir, cache_dir)
        before = ckpt_mtime()
        reached = True
        if aim == "training":
            reached = _wait_for(lambda: ckpt_mtime() != before, proc, 120, poll=0.01)
        elif aim == "checkpoint write":
            reached = _wait_for(writing_checkpoint, proc, 120)
        elif aim == "model write":
            reached = _wait_for(writing_model, proc, 120)
        if reached:
            time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        state = check_consistent(out)
        log.append({"aim": aim, "delay": round(delay, 3), "reached": reached, "rc": proc.returncode, **state})
    print("\n".join(json.dumps(row) for row in log))
    killed = [row for row in log if row["rc"] == -signal.SIGKILL]
    assert len(killed) == len(plan), log  # every kill hit a running process
    assert log[0]["epoch"] is None and log[1]["epoch"] is not None and log[-1]["model"] is not None

    for attempt in range(3):  # resume until done
        proc = _start(ARGS + ["--resume"], out, data_dir, cache_dir)
        _, err = proc.communicate(timeout=600)
        if proc.returncode == 0:
            break
    assert proc.returncode == 0, err.decode()
    check_consistent(out)
    check_clean(out)

    diff = weight_difference(reference, out)
    ref, got = _metrics(reference), _metrics(out)
    print(f"largest weight difference resumed vs uninterrupted: {diff}")
    assert diff <= 1e-6
    assert got["val"]["accuracy"] == ref["val"]["accuracy"]
    assert [h["val_accuracy"] for h in got["history"]] == [h["val_accuracy"] for h in ref["history"]]
    assert [h["loss"] for h in got["history"]] == pytest.approx([h["loss"] for h in ref["history"]], abs=1e-6)


# --- a kill at every file-system step of a run -------------------------------------------------

_DRIVER = textwrap.dedent('''
    """Runs `snnapp train` in forked children: one to the end, then one killed with SIGKILL at each
    file-system step in turn (its folder copied as the kill left it) and resumed to the end."""
    import json, os, re, shutil, signal, sys
    from pathlib import Path
    import torch._dynamo  # imported once here, not in every child (the optimiser pulls it in)
    import snnapp.cli._progress, snnapp.core.modelcard, snnapp.core.training  # noqa: F401
    import snnapp.core.modelio as modelio
    import snnapp.core._atomic as _atomic
    from snnapp.cli import app

    args, work = json.loads(sys.argv[1]), Path(sys.argv[2])
    real = {"replace": os.replace, "exchange": _atomic._exchange, "rmtree": shutil.rmtree,
            "write": _atomic._write_new}

    def run(out, resume, kill_at=None):
        """A child runs the command; kill_at=k: SIGKILL at its k-th step. Returns (wait status, steps)."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            steps = []

            def step(kind, call):
                def wrapped(*a, **kw):
                    if not str(a[0]).startswith(str(work)):  # e.g. the feature cache
                        return call(*a, **kw)
                    steps.append(f"{kind} " + re.sub(r"-\\d+-[0-9a-f]+$", "-", Path(str(a[0])).name))
                    if len(steps) == kill_at:
                        if kind == "write":  # half of the bytes reach the file, then the process dies
                            with open(a[0], "xb") as f:
                                f.write(bytes(a[1])[: len(a[1]) // 2])
                        os.kill(os.getpid(), signal.SIGKILL)
                    return call(*a, **kw)
                return wrapped

            os.replace = step("replace", real["replace"])
            _atomic._exchange = step("exchange", real["exchange"])
            _atomic._write_new = step("write", real["write"])
            shutil.rmtree = step("rmtree", real["rmtree"])
            code = 1
            try:
                app(args + ["--out", str(out)] + (["--resume"] if resume else []), standalone_mode=False)
                code = 0
            except SystemExit as exc:
                code = exc.code or 0
            except BaseException as exc:
                sys.stderr.write(f"{type(exc).__name__}: {exc}\\n")
            os.write(w, json.dumps(steps).encode())
            os._exit(code)
        os.close(w)
        data = b""
        while chunk := os.read(r, 1 << 16):
            data += chunk
        os.close(r)
        _, status = os.waitpid(pid, 0)
        return status, json.loads(data or b"[]")

    status, steps = run(work / "reference" / "model", False)
    assert status == 0, status
    print(json.dumps({"steps": steps}), flush=True)
    for k in range(1, len(steps) + 1):
        out = work / f"k{k}" / "model"
        status, _ = run(out, False, kill_at=k)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        shutil.copytree(out.parent, work / f"k{k}-killed", symlinks=True)
        status, _ = run(out, True)
        print(json.dumps({"k": k, "step": steps[k - 1], "killed": killed, "resumed": status == 0}), flush=True)
    ''')


def test_sigkill_at_every_write_step_then_resume(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    args = TINY + ["--data-dir", str(data_dir)]
    proc = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps(args), str(tmp_path)], env=_env(cache_dir),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    steps, kills = rows[0]["steps"], rows[1:]
    print(f"{len(steps)} steps: {steps}")
    # per epoch the checkpoint is written and renamed; the model folder, with the command in its
    # metrics and its card, is written beside the destination and renamed into place in one step
    assert steps.count("write .checkpoint.pt.tmp-") == 2
    assert "write weights.safetensors" in steps and "write .MODEL_CARD.md.tmp-" in steps
    assert steps[-1] == "replace .model.tmp-" and "exchange .model.tmp-" not in steps
    assert len(kills) == len(steps), kills
    assert [k for k in kills if not (k["killed"] and k["resumed"])] == []

    reference = tmp_path / "reference" / "model"
    for row in kills:
        row.update(check_consistent(tmp_path / f"k{row['k']}-killed" / "model"))
        out = tmp_path / f"k{row['k']}" / "model"
        check_consistent(out)
        check_clean(out)
        row["difference"] = weight_difference(reference, out)
        assert row["difference"] <= 1e-6, row
        assert _metrics(out)["val"]["accuracy"] == _metrics(reference)["val"]["accuracy"], row
    print("\n".join(json.dumps(row) for row in kills))
