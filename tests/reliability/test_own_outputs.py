"""What the project writes replaces only what it wrote, and only with something that works.

A foreign folder or file at a destination is refused before any work; a diverging run or a model
that would not load never takes a good model's place; two runs into one folder cannot both
claim it; resuming with another schedule, cleanup on a read-only file system and odd ``--out``
values are one line, not a traceback.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.core import _atomic
from snnapp.core.errors import ConfigError, ModelError, PathError
from snnapp.core.examples import Examples
from snnapp.core.modelio import (
    ModelConfig,
    claim_file,
    claim_model_folder,
    is_model_folder,
    load_model,
    replace_folder,
    save_model,
    write_out,
)
from snnapp.core.network import NetworkConfig, SpikingDigitNet
from snnapp.core.torch_model import weights_of
from snnapp.core.training import TrainConfig, train

NET = NetworkConfig(mode="audio", num_steps=4, audio_in_features=160, audio_hidden=(32,))


def _weights(seed: int) -> dict[str, np.ndarray]:
    torch.manual_seed(seed)
    return weights_of(SpikingDigitNet(NET))


def _examples(n: int, seed: int) -> Examples:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    audio = rng.standard_normal((n, 1, 32, 20)).astype(np.float32) + labels[:, None, None, None]
    return Examples("audio", labels, audio=audio, audio_labels=labels, speakers=np.array(["x"] * n))


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(network=NetworkConfig(mode="audio", num_steps=4, audio_hidden=(32,)), batch_size=16,
                       augment=False, **{"epochs": 2, **kw})


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _user_folder(path: Path) -> Path:
    (path / "photos").mkdir(parents=True)
    (path / "thesis.txt").write_text("chapter one\n")
    (path / "photos" / "a.jpg").write_bytes(b"\xff\xd8 a photo")
    return path


# --- a folder or file of the user's is never replaced ------------------------------------------

def test_save_model_refuses_a_folder_with_a_users_files(tmp_path: Path) -> None:
    mine = _user_folder(tmp_path / "mine")
    before = _tree(mine)
    with pytest.raises(PathError, match="holds files that are not an snnapp model folder"):
        save_model(mine, ModelConfig(NET), _weights(0), {})
    assert _tree(mine) == before and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_a_model_folder_with_a_users_file_added_is_not_replaced(tmp_path: Path) -> None:
    folder = save_model(tmp_path / "m", ModelConfig(NET), _weights(0), {})
    (folder / "notes.txt").write_text("do not lose me\n")
    assert not is_model_folder(folder)
    with pytest.raises(PathError, match="not an snnapp model folder"):
        save_model(folder, ModelConfig(NET), _weights(1), {})
    assert (folder / "notes.txt").read_text() == "do not lose me\n"


def test_a_regular_file_is_not_hidden_away(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file of mine\n")
    with pytest.raises(PathError, match="exists and is not a folder"):
        save_model(tmp_path / "out", ModelConfig(NET), _weights(0), {})
    assert (tmp_path / "out").read_text() == "a file of mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .out.old-* either


def test_replace_folder_checks_what_it_replaces(tmp_path: Path) -> None:
    mine = _user_folder(tmp_path / "mine")
    new = save_model(tmp_path / "new", ModelConfig(NET), _weights(0), {})
    with pytest.raises(PathError):
        replace_folder(new, mine, is_model_folder)
    assert (mine / "thesis.txt").exists() and is_model_folder(new)


def test_an_empty_folder_and_a_model_folder_are_replaced(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    save_model(tmp_path / "empty", ModelConfig(NET), _weights(0), {})
    save_model(tmp_path / "empty", ModelConfig(NET), _weights(1), {"again": True})
    assert load_model(tmp_path / "empty").metrics == {"again": True}


def test_a_link_is_written_through_and_stays(tmp_path: Path) -> None:
    target = save_model(tmp_path / "v1", ModelConfig(NET), _weights(0), {"v": 1})
    (tmp_path / "current").symlink_to(target, target_is_directory=True)
    save_model(tmp_path / "current", ModelConfig(NET), _weights(1), {"v": 2})
    assert (tmp_path / "current").is_symlink() and load_model(target).metrics == {"v": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "v1"]
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    with pytest.raises(PathError, match="does not exist"):
        claim_model_folder(tmp_path / "dangling")


def test_train_refuses_a_foreign_out_before_any_work(tmp_path: Path) -> None:
    mine = _user_folder(tmp_path / "mine")
    examples = (_examples(8, 0), _examples(8, 1))
    with pytest.raises(PathError):
        train(_cfg(), mine, Path("unused"), device="cpu", examples=examples)
    assert not (tmp_path / "mine.ckpt").exists()  # refused before the checkpoint folder was made
    (tmp_path / "m.ckpt").mkdir()
    (tmp_path / "m.ckpt" / "diary.txt").write_text("mine\n")
    with pytest.raises(PathError, match="checkpoint folder"):
        train(_cfg(), tmp_path / "m", Path("unused"), device="cpu", examples=examples)
    assert (tmp_path / "m.ckpt" / "diary.txt").read_text() == "mine\n"


def test_export_out_replaces_only_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "report.onnx").write_bytes(b"a user's file with an onnx name")
    with pytest.raises(PathError, match="not written by snnapp"):
        write_out(tmp_path / "report.onnx", b"\x08\x07 new graph snnapp_weights_sha256", "ONNX graph")
    assert (tmp_path / "report.onnx").read_bytes() == b"a user's file with an onnx name"
    write_out(tmp_path / "net.onnx", b"graph 1 snnapp_weights_sha256 abc", "ONNX graph")
    write_out(tmp_path / "net.onnx", b"graph 2 snnapp_weights_sha256 def", "ONNX graph")  # its own: replaced
    assert (tmp_path / "net.onnx").read_bytes().startswith(b"graph 2")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(PathError, match="not a regular file"):
        claim_file(tmp_path / "pipe", b"x", "ONNX graph")


@pytest.mark.parametrize("given", [".", "..", "/"])
def test_the_current_folder_and_those_above_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        given: str) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(PathError):
        claim_model_folder(given)
    res = CliRunner().invoke(app, ["train", "--mode", "audio", "--out", given])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.output
    assert sorted(os.listdir(tmp_path)) == ["sub"] and os.listdir(tmp_path / "sub") == []  # no "...ckpt"


# --- a model that would not load never replaces one that does ---------------------------------

def test_a_diverging_run_keeps_the_previous_model(tmp_path: Path) -> None:
    good = train(_cfg(epochs=1), tmp_path / "good", Path("unused"), device="cpu",
                 examples=(_examples(32, 0), _examples(16, 1))).model_dir
    before = _tree(good)
    with pytest.raises(ModelError, match="diverged") as caught:
        train(_cfg(epochs=3, lr=1e30), good, Path("unused"), device="cpu",
              examples=(_examples(32, 0), _examples(16, 1)))
    assert ".tmp-" not in str(caught.value)  # names no temporary folder that has since gone
    assert _tree(good) == before
    load_model(good)


def test_weights_that_are_not_finite_are_never_saved(tmp_path: Path) -> None:
    good = save_model(tmp_path / "good", ModelConfig(NET), _weights(0), {})
    before = _tree(good)
    bad = _weights(1)
    bad[next(iter(bad))][...] = np.nan
    with pytest.raises(ModelError, match=rf"{good}: not saved: weight .* NaN"):
        save_model(good, ModelConfig(NET), bad, {})
    assert _tree(good) == before and sorted(p.name for p in tmp_path.iterdir()) == ["good"]


def test_a_folder_that_fails_its_load_check_is_not_swapped_in(tmp_path: Path) -> None:
    good = save_model(tmp_path / "good", ModelConfig(NET), _weights(0), {})
    before = _tree(good)
    with pytest.raises(ModelError) as caught:
        save_model(good, ModelConfig(NET, temperature=float("nan")), _weights(1), {})
    assert str(good) in str(caught.value) and ".tmp-" not in str(caught.value)
    assert _tree(good) == before


# --- one run at a time, one schedule per run ---------------------------------------------------

def _train_in_child(out: str, started, release) -> None:
    from snnapp.core.training import _trainer

    real = _trainer._train

    def slow(*args, **kw):
        started.set()
        release.wait(60)
        return real(*args, **kw)

    _trainer._train = slow
    train(_cfg(epochs=1), Path(out), Path("unused"), device="cpu", examples=(_examples(16, 0), _examples(8, 1)))


def test_two_trainings_into_one_folder_cannot_both_succeed(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")  # fork would copy torch's threads mid-flight
    started, release = ctx.Event(), ctx.Event()
    first = ctx.Process(target=_train_in_child, args=(str(tmp_path / "m"), started, release))
    first.start()
    try:
        assert started.wait(60)
        with pytest.raises(PathError, match="another snnapp process is training into it"):
            train(_cfg(epochs=1), tmp_path / "m", Path("unused"), device="cpu",
                  examples=(_examples(16, 0), _examples(8, 1)))
    finally:
        release.set()
        first.join(120)
    assert first.exitcode == 0 and is_model_folder(tmp_path / "m")


def test_resume_with_more_epochs_is_one_line(tmp_path: Path) -> None:
    examples = (_examples(32, 0), _examples(16, 1))
    train(_cfg(epochs=2), tmp_path / "m", Path("unused"), device="cpu", examples=examples)
    with pytest.raises(ConfigError, match="planned for 2 epochs, this one for 4"):
        train(_cfg(epochs=4), tmp_path / "m", Path("unused"), device="cpu", resume=True, examples=examples)


# --- cleanup that cannot clean up --------------------------------------------------------------

def test_cleanup_on_a_read_only_file_system_reports_the_write(tmp_path: Path, monkeypatch) -> None:
    """Where the write fails with EROFS, removing its temporary fails the same way: the error is
    the write's, in one line, not the cleanup's traceback."""
    real_unlink = Path.unlink

    def write_fails(path, data):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    def unlink_fails(self, missing_ok=False):
        if ".tmp-" in self.name:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(_atomic, "_write_new", write_fails)
    monkeypatch.setattr(Path, "unlink", unlink_fails)
    with pytest.raises(_atomic.DiskError, match="read-only file system"):
        _atomic.write_file(tmp_path / "x.onnx", b"data")


def test_metrics_json_is_never_left_half_updated(tmp_path: Path) -> None:
    """``update_metrics`` with the card: one swap, and the folder verifies afterwards."""
    from snnapp.core.modelio import update_metrics

    folder = save_model(tmp_path / "m", ModelConfig(NET), _weights(0), {"val": {"accuracy": 0.5}})
    update_metrics(folder, {"note": "x"}, card=False)
    assert json.loads((folder / "metrics.json").read_text())["note"] == "x"
    load_model(folder)


def test_nir_export_out_replaces_its_own_file_only(tmp_path: Path) -> None:
    pytest.importorskip("nir")
    from snnapp.core.export_nir import export_nir

    folder = save_model(tmp_path / "m", ModelConfig(NET), _weights(0), {})
    export_nir(folder, out=tmp_path / "net.nir")
    export_nir(folder, out=tmp_path / "net.nir")  # the file it wrote carries the mark: replaced
    (tmp_path / "mine.nir").write_bytes(b"\x89HDF\r\n a file of the user's")
    with pytest.raises(PathError, match="not written by snnapp as a NIR graph"):
        export_nir(folder, out=tmp_path / "mine.nir")
    assert (tmp_path / "mine.nir").read_bytes() == b"\x89HDF\r\n a file of the user's"
