"""Every writing command against hostile destinations: nothing of the user's is lost or changed.

Each command that writes (``train --out``, ``export --out``, ``evaluate --record``, ``tune --out``,
``tune report --csv/--plots``) is pointed at each kind of place a user may name by mistake or on
purpose: an existing file of theirs, a folder of theirs with files
in it, a link to a model folder and a link to elsewhere, a read-only file system, a full disk, a
name that is not UTF-8, a name with a newline, a FIFO, ``.`` and ``..``. Whatever happens, the
command

- exits with status 0 (done) or 2 (refused or failed, said in one line naming the path),
- prints no traceback,
- removes or changes nothing that it did not write (the tree is compared byte for byte),
- leaves no temporary file or folder behind.

``predict`` and ``listen``, which write only to standard output, meet hostile input names in
``test_hostile_inputs.py`` with the same promises.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.core.modelio import is_model_folder, load_model, shown

TINY_AUDIO = ["--mode", "audio", "--limit", "64", "--epochs", "1", "--batch-size", "32", "--audio-hidden", "16",
              "--audio-copies", "0", "--num-steps", "8", "--no-augment", "--device", "cpu"]


# --- the places -------------------------------------------------------------------------------

#: tmpfs mounted by the test running now, unmounted when it ends (whatever it raised)
MOUNTED: list[Path] = []


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({done.stderr.strip() or done.returncode}); run as root")
    MOUNTED.append(folder)


@pytest.fixture(autouse=True)
def _unmount() -> Iterator[None]:
    yield
    while MOUNTED:
        subprocess.run(["umount", "-l", str(MOUNTED.pop())], check=False)


def _fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class Place:
    """A destination to give a command, and the tree around it to compare before and after."""

    name: str
    path: str | bytes
    root: Path
    #: the command may succeed here (a new name, or a link to the project's own folder)
    may_succeed: bool

    @property
    def text(self) -> str:
        return os.fsdecode(self.path)


def _user_files(root: Path) -> None:
    (root / "thesis.txt").write_text("chapter one\n")
    (root / "photos").mkdir()
    (root / "photos" / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")


KINDS = ["foreign_file", "foreign_folder", "link_to_model", "link_elsewhere", "read_only", "full_disk",
         "non_utf8", "newline", "fifo", "dot", "dotdot"]


def make_place(kind: str, root: Path, model: Path, file_like: bool) -> Place:
    """Build the destination ``kind`` under ``root`` (``file_like``: the command writes a file)."""
    root.mkdir(parents=True, exist_ok=True)
    if kind == "foreign_file":
        (root / "notes.txt").write_text("my notes\n")
        return Place(kind, str(root / "notes.txt"), root, False)
    if kind == "foreign_folder":
        (root / "mine").mkdir()
        _user_files(root / "mine")
        return Place(kind, str(root / "mine"), root, False)
    if kind == "link_to_model":
        target = root / "models" / "v1"
        target.parent.mkdir()
        subprocess.run(["cp", "-r", str(model), str(target)], check=True)
        (root / "current").symlink_to(target, target_is_directory=True)
        return Place(kind, str(root / "current"), root, not file_like)
    if kind == "link_elsewhere":
        (root / "elsewhere").mkdir()
        _user_files(root / "elsewhere")
        (root / "link").symlink_to(root / "elsewhere", target_is_directory=True)
        return Place(kind, str(root / "link"), root, False)
    if kind == "read_only":
        ro = root / "ro"
        _mount_tmpfs(ro, "1m")
        (ro / "keep.txt").write_text("kept\n")
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        return Place(kind, str(ro / "out"), root, False)
    if kind == "full_disk":
        full = root / "full"
        _mount_tmpfs(full, "256k")
        (full / "keep.txt").write_text("kept\n")
        _fill(full)
        return Place(kind, str(full / "out"), root, False)
    if kind == "non_utf8":
        return Place(kind, os.fsencode(root) + b"/bad\xffname" + (b".out" if file_like else b""), root, True)
    if kind == "newline":
        return Place(kind, str(root / ("two\nlines" + (".out" if file_like else ""))), root, True)
    if kind == "fifo":
        os.mkfifo(root / "pipe")
        return Place(kind, str(root / "pipe"), root, False)
    if kind == "dot":
        return Place(kind, ".", root, False)
    if kind == "dotdot":
        (root / "sub").mkdir()
        return Place(kind, "..", root / "sub", False)
    raise AssertionError(kind)


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: file bytes, link targets, folders; a FIFO by kind only."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            out[os.fsdecode(p)] = "link:" + os.fsdecode(os.readlink(p)) if os.path.islink(p) else "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            if os.path.islink(p):
                out[os.fsdecode(p)] = "link:" + os.fsdecode(os.readlink(p))
            elif os.path.isfile(p):
                with open(p, "rb") as fh:
                    out[os.fsdecode(p)] = fh.read()
            else:
                out[os.fsdecode(p)] = "special"
    return out


def temporaries(root: Path) -> list[str]:
    """Names a writer of the project leaves only while it writes (or when it was killed)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in map(os.fsdecode, dirnames + filenames):
            if (name.startswith(".") and (".tmp-" in name or ".old-" in name or ".best-" in name)) \
                    or name.endswith(".part") or ".part-" in name:
                found.append(os.path.join(os.fsdecode(dirpath), name))
    return found


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A tiny audio model folder trained by the command itself."""
    out = tmp_path_factory.mktemp("model") / "tiny"
    res = CliRunner().invoke(app, ["train", *TINY_AUDIO, "--out", str(out), "--data-dir", str(data_dir)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture
def place_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Place]:
    def make(kind: str, model: Path, file_like: bool) -> Place:
        p = make_place(kind, tmp_path / "home", model, file_like)
        monkeypatch.chdir(p.root)
        return p

    return make


def run(args: list, env: dict | None = None):
    """The command in this process, with stderr apart (arguments may be bytes: not UTF-8 names)."""
    argv = [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args]
    return CliRunner().invoke(app, argv, env=env)


def check_outcome(res, place: Place, before: dict, *, changed_ok: Callable[[str], bool] = lambda k: False) -> None:
    """The four promises of this module, for one command at one place."""
    out = res.stdout + res.stderr
    assert res.exit_code in (0, 2), (place.name, res.exit_code, out[-2000:])
    assert "Traceback" not in out, (place.name, out[-2000:])
    assert res.exception is None or isinstance(res.exception, SystemExit), (place.name, repr(res.exception))
    if res.exit_code == 2:  # one line, the last: progress messages may come before it
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("error: ")]
        assert len(errors) == 1 and lines[-1] == errors[0], (place.name, res.stderr)
    else:
        assert place.may_succeed, (place.name, "succeeded where it must refuse", out)
    after = snapshot(place.root)
    lost = {k for k in before if k not in after}
    changed = {k for k in before if k in after and after[k] != before[k] and not changed_ok(k)}
    assert not lost and not changed, (place.name, sorted(lost), sorted(changed))
    assert not temporaries(place.root), (place.name, temporaries(place.root))


# --- the commands -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_train_out(kind: str, model: Path, data_dir: Path, cache_dir: Path, place_factory) -> None:
    place = place_factory(kind, model, file_like=False)
    before = snapshot(place.root)
    res = run(["train", *TINY_AUDIO, "--out", place.path, "--data-dir", data_dir],
              env={"SNNAPP_CACHE_DIR": str(cache_dir)})
    target = place.root / "models" / "v1"
    check_outcome(res, place, before, changed_ok=lambda k: kind == "link_to_model" and k.startswith(str(target)))
    if kind in ("foreign_file", "foreign_folder", "link_elsewhere", "fifo"):
        assert res.exit_code == 2 and shown(os.fsdecode(place.path)) in res.stderr, res.stderr
    if kind == "link_to_model":  # written through the link: the link stays, its target is the new model
        assert res.exit_code == 0, res.output
        assert (place.root / "current").is_symlink() and is_model_folder(target)
        assert "command" in load_model(target).metrics
        assert (target / "manifest.json").read_bytes() != before[str(target / "manifest.json")]  # a new model
    if kind in ("non_utf8", "newline"):
        assert res.exit_code == 0, res.output
        assert is_model_folder(Path(os.fsdecode(place.path)))
        assert len(res.stdout.strip().splitlines()) == 1, res.stdout  # the name cannot split the line
    if kind == "read_only":
        assert "read-only file system" in res.stderr
    if kind == "full_disk":
        assert "no space left" in res.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_export_out(kind: str, model: Path, place_factory) -> None:
    place = place_factory(kind, model, file_like=True)
    before = snapshot(place.root)
    res = run(["export", model, "--out", place.path])
    check_outcome(res, place, before)
    if kind in ("non_utf8", "newline"):
        assert res.exit_code == 0 and Path(os.fsdecode(place.path)).stat().st_size > 1000, res.output
        again = run(["export", model, "--out", place.path])  # its own file: replaced
        assert again.exit_code == 0, again.output
    elif kind != "link_to_model":
        assert res.exit_code == 2
    else:  # a link to a folder is not a file to export to
        assert res.exit_code == 2 and "folder" in res.stderr


@pytest.mark.parametrize("kind", ["user_file_inside", "link_to_model", "read_only", "full_disk", "non_utf8"])
def test_evaluate_record(kind: str, model: Path, data_dir: Path, cache_dir: Path, tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``evaluate --record`` changes a model folder in place: only ever a whole model folder."""
    root = tmp_path / "home"
    root.mkdir()
    monkeypatch.chdir(root)
    folder: str | bytes
    if kind == "user_file_inside":
        subprocess.run(["cp", "-r", str(model), str(root / "m")], check=True)
        (root / "m" / "my-notes.txt").write_text("results of friday\n")
        folder = str(root / "m")
    elif kind == "link_to_model":
        subprocess.run(["cp", "-r", str(model), str(root / "m")], check=True)
        (root / "link").symlink_to(root / "m", target_is_directory=True)
        folder = str(root / "link")
    elif kind in ("read_only", "full_disk"):
        mnt = root / "mnt"
        _mount_tmpfs(mnt, "4m")
        subprocess.run(["cp", "-r", str(model), str(mnt / "m")], check=True)
        if kind == "read_only":
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        else:
            _fill(mnt)
        folder = str(mnt / "m")
    else:
        folder = os.fsencode(root) + b"/m\xff"
        subprocess.run([b"cp", b"-r", os.fsencode(model), folder], check=True)
    place = Place(kind, folder, root, kind in ("link_to_model", "non_utf8"))
    before = snapshot(root)
    res = run(["evaluate", folder, "--split", "val", "--record", "--data-dir", data_dir],
              env={"SNNAPP_CACHE_DIR": str(cache_dir)})
    model_files = str(root / "m")
    check_outcome(res, place, before, changed_ok=lambda k: place.may_succeed and k.startswith(model_files))
    if kind == "user_file_inside":
        assert res.exit_code == 2 and "not an snnapp model folder" in res.stderr, res.stderr
    if place.may_succeed:
        assert res.exit_code == 0, res.output
        assert "val" in load_model(Path(os.fsdecode(folder))).metrics
        assert kind != "link_to_model" or (root / "link").is_symlink()


# --- tune and tune report ---------------------------------------------------------------------

TINY_SPACE = """
[params.lr]
low = 1e-3
high = 2e-2
log = true

[fixed]
batch_size = 32
num_steps = 8
audio_hidden = [16]
audio_copies = 0
augment = false
"""


@pytest.mark.parametrize("kind", KINDS)
def test_tune_out(kind: str, model: Path, data_dir: Path, cache_dir: Path, place_factory, tmp_path: Path) -> None:
    """``tune --out``: the folder of a study's trial models (a model folder is not one)."""
    place = place_factory(kind, model, file_like=False)
    place.may_succeed = kind in ("non_utf8", "newline")
    space = tmp_path / "space.toml"
    space.write_text(TINY_SPACE)
    before = snapshot(place.root)
    res = run(["tune", "--mode", "audio", "--method", "random", "--space", space, "--trials", "1", "--limit", "96",
               "--epochs-per-trial", "1", "--storage", f"sqlite:///{tmp_path / 's.db'}", "--device", "cpu",
               "--no-test", "--data-dir", data_dir, "--out", place.path], env={"SNNAPP_CACHE_DIR": str(cache_dir)})
    check_outcome(res, place, before)
    if place.may_succeed:
        assert res.exit_code == 0, res.output
        assert is_model_folder(Path(place.text) / "best")
    if kind == "link_to_model":
        assert res.exit_code == 2 and "not an snnapp" in res.stderr, res.stderr


@pytest.fixture
def report_storage(tmp_path: Path) -> str:
    """A storage with one finished study, made without training."""
    import optuna

    from tests.reliability.test_tuning_safety import _hand_study

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _hand_study(optuna.storages.RDBStorage(url), "team/exp1")
    return url


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option", ["--csv", "--plots"])
def test_tune_report_outputs(kind: str, option: str, model: Path, report_storage: str, place_factory) -> None:
    """``tune report --csv FILE`` replaces only its own CSV; ``--plots FOLDER`` adds PNGs to a
    folder (a user's folder too) and replaces only its own PNGs."""
    place = place_factory(kind, model, file_like=option == "--csv")
    place.may_succeed = kind in ("non_utf8", "newline") or (option == "--plots" and kind in (
        "foreign_folder", "link_to_model", "link_elsewhere", "dot", "dotdot"))
    before = snapshot(place.root)
    res = run(["tune", "report", "--storage", report_storage, option, place.path])
    check_outcome(res, place, before)
    if place.may_succeed:
        assert res.exit_code == 0, res.output
        again = run(["tune", "report", "--storage", report_storage, option, place.path])  # its own: replaced
        assert again.exit_code == 0, again.output
        written = Path(place.text) if option == "--csv" else next(Path(place.text).glob("*.png"))
        assert written.stat().st_size > 0
