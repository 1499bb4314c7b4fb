"""What ``snnapp tune``, ``tune report`` and ``reproduce`` may do to the file system and print.

Study names are user text and become file names; output folders and files are the project's own
or refused; storage credentials never leave the URL they were given in; a bad setting stops a
study at once; Ctrl-C ends a study in one line and leaves the trial to be retried.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.tuning import SearchSpace, open_storage, study_file_name
from tests.tuning.conftest import TINY_TOML, snnapp_cmd, space_file, warm_cache, worker_env  # noqa: F401  (fixtures)

BAD_NAMES = ["team/exp1", "../../../../x", "..", ".", "", "a\\b", "a/b", "a_b", "a\x00b", "line\nbreak", "tab\tx",
             "-", "x" * 300, "x" * 301, ".hidden", "name.part", "Übung", "a b", "a~b", "/abs/path", "C:\\x"]


@pytest.fixture(autouse=True)
def _own_user_data_folder(tmp_path, monkeypatch):
    """The default folders of studies lie under the test's own folder, never the user's."""
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(tmp_path / "home" / app))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home"))  # for the commands run in processes


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _tune(space: Path, data_dir: Path, storage: str, *extra: str, trials: int = 1):
    """``snnapp tune`` on tiny audio trials (one epoch on 96 examples), not tested on the test set."""
    return _cli("tune", "--mode", "audio", "--method", "random", "--space", str(space), "--trials", str(trials),
                "--limit", "96", "--epochs-per-trial", "1", "--storage", storage, "--device", "cpu", "--no-test",
                "--data-dir", str(data_dir), *extra)


def _error_line(res) -> str:
    """The one ``error:`` line of a refused command (and nothing that looks like a traceback)."""
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.output
    return lines[0]


def _hand_study(storage: optuna.storages.BaseStorage, name: str, trials: int = 4) -> optuna.Study:
    """A finished single-objective study as ``snnapp tune`` leaves it, built without training."""
    study = optuna.create_study(storage=storage, study_name=name)
    space = SearchSpace.from_dict({"params": {"lr": {"low": 1e-4, "high": 1e-2, "log": True},
                                              "correct_rate": {"low": 0.5, "high": 1.0}}})
    for key, value in {"mode": "image", "method": "random", "epochs_per_trial": 2, "space": space.to_json(),
                       "objectives": ["accuracy"]}.items():
        study.set_user_attr(key, value)
    for i in range(trials):
        t = study.ask(space.distributions())
        t.set_user_attr("epochs_run", 2)
        study.tell(t, 0.5 + 0.01 * i)
    return study


# --- study names as file names ------------------------------------------------------------------

def test_every_study_name_becomes_one_safe_distinct_file_name():
    names = [study_file_name(n) for n in BAD_NAMES]
    for given, made in zip(BAD_NAMES, names):
        assert made and made not in (".", "..") and not made.startswith("."), (given, made)
        assert "/" not in made and "\\" not in made and os.sep not in made, (given, made)
        assert made.isprintable() and made.isascii() and len(made) <= 100, (given, made)
        assert Path(made).name == made and not made.lower().endswith(".part")
    assert len(set(names)) == len(BAD_NAMES)  # distinct names stay distinct
    assert study_file_name("audio-bayes") == "audio-bayes"  # plain names are kept as they are
    assert study_file_name("reproduce-quick-image-grid-s0") == "reproduce-quick-image-grid-s0"


def test_report_plots_of_studies_with_path_like_names_stay_in_their_folder(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    storage = open_storage(db)
    for name in ("team/exp1", "../../../../x"):
        _hand_study(storage, name)
    work = tmp_path / "deep" / "er" / "still"
    work.mkdir(parents=True)
    plots = work / "plots"
    before = set(tmp_path.rglob("*"))
    res = _cli("tune", "report", "--storage", db, "--plots", str(plots))
    assert res.exit_code == 0, res.output
    made = set(tmp_path.rglob("*")) - before
    pngs = [p for p in made if p.suffix == ".png"]
    assert len(pngs) >= 4 and all(p.parent == plots for p in pngs), sorted(map(str, made))
    assert "Traceback" not in res.output


def test_a_study_named_like_a_path_keeps_its_models_in_the_user_data_folder(tmp_path, monkeypatch, space_file,
                                                                           data_dir, warm_cache):
    home = tmp_path / "home"
    monkeypatch.setenv("SNNAPP_CACHE_DIR", str(warm_cache))
    res = _cli("tune", "--mode", "audio", "--method", "random", "--space", str(space_file), "--trials", "1",
               "--limit", "96", "--epochs-per-trial", "1", "--study", "../..", "--no-test", "--device", "cpu",
               "--storage", f"sqlite:///{tmp_path / 's.db'}", "--data-dir", str(data_dir))
    assert res.exit_code == 0, res.output
    studies = home / "snnapp" / "studies"
    (folder,) = list(studies.iterdir())
    assert folder.name == study_file_name("../..") and (folder / "best" / "config.json").exists()
    assert sorted(p.name for p in home.iterdir()) == ["snnapp"]
    assert sorted(p.name for p in (home / "snnapp").iterdir()) == ["studies"]


# --- storage credentials ------------------------------------------------------------------------

@pytest.mark.parametrize("url, kept", [
    ("postgresql+psycopg2://u@db-host/optuna?password=SECRETPW", "postgresql+psycopg2://u@db-host/optuna"),
    ("postgresql+psycopg2://:SECRETPW@db-host/optuna", "@db-host/optuna"),
    ("postgresql+psycopg2://u:SEC@RETPW@db-host:5432/optuna", "@db-host:5432/optuna"),
    ("postgresql+psycopg2://u:SEC%40RETPW@db-host/optuna", "postgresql+psycopg2://u:***@db-host/optuna"),
    ("postgresql+psycopg2://u:SECRETPW@db-host/optuna?sslmode=require&sslpassword=SECRETPW",
     "postgresql+psycopg2://u:***@db-host/optuna?sslmode=require"),
    ("mysql+pymysql://u@db-host/optuna?passwd=SECRETPW&charset=utf8mb4", "mysql+pymysql://u@db-host/optuna?charset"),
    ("postgresql+psycopg2://u:SEC@RET/PW@db-host/optuna", "db-host/optuna"),
    ("postgresql+psycopg2://u:SEC@RET:PW@db-host:5/optuna", "@db-host:5/optuna"),  # not readable by SQLAlchemy
])
def test_redact_hides_every_way_of_writing_a_password(url, kept):
    from snnapp.tuning import redact

    shown = redact(url)
    assert kept in shown
    for part in ("SECRETPW", "SEC", "RETPW", "RET", "PW"):
        assert part not in shown.replace("db-host", "").replace("optuna", ""), shown


@pytest.mark.parametrize("url", [
    "postgresql+psycopg2://u@127.0.0.1:1/db?password=SECRETPW",
    "postgresql+psycopg2://:SECRETPW@127.0.0.1:1/db",
    "postgresql+psycopg2://u:SEC@RETPW@127.0.0.1:1/db",
    "mysql+pymysql://u@127.0.0.1:1/db?passwd=SECRETPW",
    "postgresql+psycopg2://u:SEC@RET:RETPW@127.0.0.1:1/db",  # SQLAlchemy cannot read it: its error quotes the URL
])
def test_a_storage_that_cannot_be_opened_never_prints_its_password(tmp_path, url):
    res = _cli("tune", "--storage", url, "--data-dir", str(tmp_path))
    assert res.exit_code == 2, res.output
    assert "cannot open storage" in res.output and "Traceback" not in res.output
    assert "SECRET" not in res.output and "RETPW" not in res.output, res.output


def test_a_password_in_the_storage_url_stays_out_of_the_model_folder_and_output(tmp_path, space_file, data_dir,
                                                                               warm_cache, monkeypatch):
    monkeypatch.setenv("SNNAPP_CACHE_DIR", str(warm_cache))
    db = f"sqlite:///{tmp_path / 's.db'}?password=SECRETPW"  # SQLite ignores it (with a warning)
    res = _cli("tune", "--mode", "audio", "--method", "random", "--space", str(space_file), "--trials", "1",
               "--limit", "96", "--epochs-per-trial", "1", "--storage", db, "--out", str(tmp_path / "t"),
               "--device", "cpu", "--data-dir", str(data_dir))
    assert res.exit_code == 0, res.output
    assert "SECRETPW" not in res.output
    best = tmp_path / "t" / "best"
    assert (best / "metrics.json").exists()
    assert json.loads((best / "metrics.json").read_text())["tuning"]["storage"] == f"sqlite:///{tmp_path / 's.db'}"
    for p in (tmp_path / "t").rglob("*"):
        if p.is_file():
            assert b"SECRETPW" not in p.read_bytes(), p
    study = optuna.load_study(study_name="audio-random", storage=open_storage(db))
    assert "SECRETPW" not in repr(study.user_attrs)


# --- a folder of trial models belongs to one study ----------------------------------------------

@pytest.fixture
def cached(warm_cache, monkeypatch):
    monkeypatch.setenv("SNNAPP_CACHE_DIR", str(warm_cache))
    return warm_cache


def test_two_studies_never_share_a_folder_of_trial_models(tmp_path, space_file, data_dir, cached):
    db, out = f"sqlite:///{tmp_path / 's.db'}", tmp_path / "t"
    first = _tune(space_file, data_dir, db, "--study", "first", "--out", str(out))
    assert first.exit_code == 0, first.output
    kept = (out / "best" / "weights.safetensors").read_bytes()
    line = _error_line(_tune(space_file, data_dir, db, "--study", "second", "--out", str(out)))
    assert str(out) in line and "'first'" in line and "'second'" in line
    assert (out / "best" / "weights.safetensors").read_bytes() == kept
    again = _tune(space_file, data_dir, db, "--study", "first", "--out", str(out), trials=2)
    assert again.exit_code == 0, again.output  # the folder's own study goes on using it
    assert json.loads((out / "best" / "metrics.json").read_text())["tuning"]["study"] == "first"
    # nothing was stored for the refused study
    assert optuna.study.get_all_study_names(open_storage(db)) == ["first"]


def test_one_study_name_in_two_storages_does_not_share_the_default_folder(tmp_path, space_file, data_dir, cached):
    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    assert _tune(space_file, data_dir, one, "--study", "exp").exit_code == 0
    line = _error_line(_tune(space_file, data_dir, two, "--study", "exp"))
    assert str(tmp_path / "one.db") in line and str(tmp_path / "two.db") in line and "'exp'" in line


def test_a_folder_of_user_files_is_refused_and_an_old_study_folder_adopted(tmp_path, space_file, data_dir, cached):
    db = f"sqlite:///{tmp_path / 's.db'}"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    line = _error_line(_tune(space_file, data_dir, db, "--out", str(mine)))
    assert str(mine) in line
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    # a folder written before the marker existed: only trial folders, checkpoints and best/
    old = tmp_path / "old"
    (old / "trial-0007").mkdir(parents=True)
    (old / "trial-0007.ckpt").mkdir()
    res = _tune(space_file, data_dir, db, "--study", "old", "--out", str(old))
    assert res.exit_code == 0, res.output
    assert (old / "best" / "config.json").exists() and (old / "snnapp-study.json").exists()


def test_only_the_projects_own_model_folders_are_deleted(tmp_path, space_file, data_dir, cached):
    db, out = f"sqlite:///{tmp_path / 's.db'}", tmp_path / "t"
    assert _tune(space_file, data_dir, db, "--out", str(out), trials=2).exit_code == 0
    (dropped,) = {"trial-0000", "trial-0001"} - {p.name for p in out.iterdir()}
    (out / dropped).mkdir()
    (out / dropped / "notes.txt").write_text("not a model")  # a folder the project did not write
    assert _tune(space_file, data_dir, db, "--out", str(out), trials=3).exit_code == 0
    assert (out / dropped / "notes.txt").read_text() == "not a model"
    # best/ that is not a model folder is refused, never removed
    for p in (out / "best").iterdir():
        p.unlink()
    (out / "best" / "notes.txt").write_text("not a model")
    line = _error_line(_tune(space_file, data_dir, db, "--out", str(out), trials=4))
    assert str(out / "best") in line
    assert sorted(p.name for p in (out / "best").iterdir()) == ["notes.txt"]


# --- settings training refuses --------------------------------------------------------------------

def _run_tune(space: Path, data_dir: Path, cache: Path, storage: str, *extra: str, timeout: float = 120):
    """``snnapp tune`` in a process of its own (what Optuna logs reaches its stderr)."""
    import subprocess

    args = ["tune", "--mode", "audio", "--method", "random", "--space", str(space), "--limit", "96",
            "--epochs-per-trial", "1", "--storage", storage, "--device", "cpu", "--no-test", *extra]
    return subprocess.run(snnapp_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=worker_env(data_dir, cache))


@pytest.mark.parametrize("setting, words", [("batch_size = 0", "batch_size: must be at least 1, got 0"),
                                            ('loss = "bogus"', "unknown loss 'bogus'")])
def test_an_invalid_fixed_setting_is_refused_before_the_first_trial(tmp_path, data_dir, warm_cache, setting, words):
    space = tmp_path / "space.toml"
    space.write_text(TINY_TOML.replace("batch_size = 32", setting) if "batch" in setting else TINY_TOML + setting + "\n")
    db = f"sqlite:///{tmp_path / 's.db'}"
    res = _run_tune(space, data_dir, warm_cache, db, "--trials", "3", "--timeout", "8", "--out", str(tmp_path / "t"))
    assert res.returncode == 2, res.stdout + res.stderr[-3000:]
    assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1, res.stderr[-3000:]
    assert res.stderr.startswith("error: ") and str(space) in res.stderr and words in res.stderr
    assert optuna.study.get_all_study_names(open_storage(db)) == []  # nothing stored, nothing trained


def test_a_trial_whose_settings_training_refuses_stops_the_study(tmp_path, data_dir, warm_cache):
    # both bounds are fine, most values between them are not: 32 MFCC frames do not divide into 9-15 steps...
    space = tmp_path / "space.toml"
    space.write_text(TINY_TOML.replace("num_steps = 8\n", "") + "\n[params.num_steps]\nlow = 8\nhigh = 32\n")
    db = f"sqlite:///{tmp_path / 's.db'}"
    res = _run_tune(space, data_dir, warm_cache, db, "--trials", "6", "--timeout", "20", "--out", str(tmp_path / "t"))
    assert res.returncode == 2, res.stdout + res.stderr[-3000:]
    assert "Traceback" not in res.stdout + res.stderr, res.stderr[-3000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "do not divide into" in lines[0] and "the study is stopped" in lines[0], lines
    trials = optuna.load_study(study_name="audio-random", storage=open_storage(db)).trials
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 1 and 32 % failed[0].params["num_steps"]


# --- Ctrl-C ----------------------------------------------------------------------------------------

def _interrupted_tune(tmp_path: Path, data_dir: Path, cache: Path) -> tuple[list[str], str]:
    """Start ``snnapp tune`` (one long trial), press Ctrl-C once its first checkpoint is written;
    returns the command's arguments and its stderr, after checking it ended in one line with 130."""
    import signal
    import subprocess
    import time

    space = tmp_path / "space.toml"
    space.write_text(TINY_TOML)
    args = ["tune", "--mode", "audio", "--method", "random", "--space", str(space), "--trials", "1", "--limit", "96",
            "--epochs-per-trial", "60", "--pruner", "none", "--storage", f"sqlite:///{tmp_path / 's.db'}",
            "--out", str(tmp_path / "t"), "--device", "cpu", "--no-test"]
    proc = subprocess.Popen(snnapp_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=worker_env(data_dir, cache),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    checkpoint = tmp_path / "t" / "trial-0000.ckpt" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err[-3000:])
    assert "Traceback" not in out + err, err[-3000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted"), err[-3000:]
    return args, lines[0]


def test_ctrl_c_ends_tune_in_one_line_and_the_same_command_retries_the_trial(tmp_path, data_dir, warm_cache):
    import subprocess

    args, line = _interrupted_tune(tmp_path, data_dir, warm_cache)
    assert "trial 0 runs again" in line
    db = f"sqlite:///{tmp_path / 's.db'}"
    trials = optuna.load_study(study_name="audio-random", storage=open_storage(db)).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING]
    assert trials[1].params == trials[0].params and trials[0].user_attrs["interrupted"]
    assert (tmp_path / "t" / "trial-0000.ckpt" / "checkpoint.pt").exists()  # kept for the retry
    again = subprocess.run(snnapp_cmd(*args), capture_output=True, text=True, timeout=300,
                           env=worker_env(data_dir, warm_cache))
    assert again.returncode == 0, again.stderr[-3000:]
    trials = optuna.load_study(study_name="audio-random", storage=open_storage(db)).trials
    assert len(trials) == 2 and trials[1].state == optuna.trial.TrialState.COMPLETE
    assert trials[1].user_attrs["resumed_from"] == 0 and trials[1].user_attrs["epochs_run"] == 60
    assert not list((tmp_path / "t").glob("*.ckpt"))  # nothing left behind once the study ends


def test_a_study_that_ends_removes_only_the_projects_stale_checkpoints(tmp_path, data_dir, warm_cache):
    import subprocess

    args, _ = _interrupted_tune(tmp_path, data_dir, warm_cache)
    db = f"sqlite:///{tmp_path / 's.db'}"
    storage = open_storage(db)
    study = optuna.load_study(study_name="audio-random", storage=storage)
    # as a study run before interrupted trials were queued again leaves it: failed, with its checkpoint
    storage.set_trial_state_values(study.trials[1]._trial_id, optuna.trial.TrialState.FAIL)
    (tmp_path / "t" / "trial-0001.ckpt").mkdir()
    (tmp_path / "t" / "trial-0001.ckpt" / "notes.txt").write_text("not a checkpoint")
    again = subprocess.run(snnapp_cmd(*args), capture_output=True, text=True, timeout=300,
                           env=worker_env(data_dir, warm_cache))
    assert again.returncode == 0, again.stderr[-3000:]
    assert not (tmp_path / "t" / "trial-0000.ckpt").exists()  # the project's, of a trial that ended
    assert (tmp_path / "t" / "trial-0001.ckpt" / "notes.txt").read_text() == "not a checkpoint"


# --- files the commands read and write -------------------------------------------------------------

def _limited_tune(*args: str, data_dir: Path, cache: Path, timeout: float = 60):
    """``snnapp tune`` in its own process, with 6 GB of address space: a read without end fails
    instead of taking the machine's memory."""
    import resource
    import subprocess

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    return subprocess.run(snnapp_cmd("tune", *args), capture_output=True, text=True, timeout=timeout,
                          env=worker_env(data_dir, cache), preexec_fn=limit)


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder", "huge"])
def test_a_space_file_that_is_no_regular_file_or_too_large_is_one_line(tmp_path, data_dir, cache_dir, kind):
    space = tmp_path / "space.toml"
    if kind == "fifo":
        os.mkfifo(space)  # nobody writes it: reading would wait for ever
    elif kind == "zero":
        space.symlink_to("/dev/zero")  # reading would never end
    elif kind == "folder":
        space.mkdir()
    else:
        space.write_text("# " + "x" * (2 << 20) + "\n" + TINY_TOML)
    res = _limited_tune("--space", str(space), "--storage", f"sqlite:///{tmp_path / 's.db'}",
                        data_dir=data_dir, cache=cache_dir)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {space}"), res.stderr[-2000:]


def test_a_journal_storage_that_is_a_folder_is_one_line(tmp_path):
    (tmp_path / "j").mkdir()
    line = _error_line(_cli("tune", "--storage", f"journal:{tmp_path / 'j'}", "--data-dir", str(tmp_path)))
    assert str(tmp_path / "j") in line and "a folder, not a journal file" in line


@pytest.mark.parametrize("scheme", ["sqlite:///", "journal:"])
def test_report_on_a_storage_file_that_does_not_exist_creates_nothing(tmp_path, scheme):
    missing = tmp_path / "typo" / ("studies.db" if scheme.startswith("sqlite") else "study.log")
    line = _error_line(_cli("tune", "report", "--storage", f"{scheme}{missing}"))
    assert str(missing) in line and "no such" in line
    assert not (tmp_path / "typo").exists()


def test_report_files_go_into_new_folders_and_replace_only_their_own_kind(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    _hand_study(open_storage(db), "exp")
    csv, md, plots = tmp_path / "new" / "r.csv", tmp_path / "other" / "r.md", tmp_path / "plots"
    args = ["tune", "report", "--storage", db, "--csv", str(csv), "--markdown", str(md), "--plots", str(plots)]
    res = _cli(*args)
    assert res.exit_code == 0, res.output  # folders that did not exist are created
    assert csv.read_text().startswith("study,mode,method,") and "| exp | image |" in md.read_text()
    pngs = sorted(plots.glob("*.png"))
    assert pngs and all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    assert _cli(*args).exit_code == 0  # a report written before is replaced
    for mine in (csv, md, pngs[0]):
        mine.write_bytes(b"study,mode,method\nmy own notes\n")
        line = _error_line(_cli(*args))
        assert str(mine) in line
        assert mine.read_bytes() == b"study,mode,method\nmy own notes\n"
        mine.unlink()
    assert _cli(*args).exit_code == 0


def test_reproduce_replaces_only_its_own_tables(tmp_path):
    out = tmp_path / "r"
    args = ["reproduce", "--modes", "", "--out", str(out), "--data-dir", str(tmp_path)]
    res = _cli(*args)
    assert res.exit_code == 0, res.output
    assert "Budget `quick`" in (out / "TABLES.md").read_text()
    assert _cli(*args).exit_code == 0
    (out / "TABLES.md").write_text("my own tables\n")
    line = _error_line(_cli(*args))
    assert str(out / "TABLES.md") in line and (out / "TABLES.md").read_text() == "my own tables\n"


def test_a_reproduce_folder_belongs_to_one_storage_and_user_folders_are_refused(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    line = _error_line(_cli("reproduce", "--modes", "", "--out", str(mine)))
    assert str(mine) in line and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    out = tmp_path / "r"
    args = ["reproduce", "--modes", "", "--out", str(out), "--data-dir", str(tmp_path)]
    assert _cli(*args).exit_code == 0
    assert json.loads((out / "snnapp-reproduce.json").read_text())["storage"] == f"sqlite:///{out / 'studies.db'}"
    other = f"sqlite:///{tmp_path / 'other.db'}"
    line = _error_line(_cli(*args, "--storage", other))
    assert str(out) in line and str(out / "studies.db") in line and str(tmp_path / "other.db") in line
    # moved with its studies, it is still the same reproduction
    (out / "studies.db").write_bytes(b"")
    out.rename(tmp_path / "moved")
    assert _cli("reproduce", "--modes", "", "--out", str(tmp_path / "moved")).exit_code == 0
    # a folder an earlier snnapp wrote (its database, trials/, TABLES.md) is taken over
    old = tmp_path / "old"
    (old / "trials").mkdir(parents=True)
    (old / "studies.db").write_bytes(b"")
    res = _cli("reproduce", "--modes", "", "--out", str(old))
    assert res.exit_code == 0, res.output
    assert (old / "snnapp-reproduce.json").exists() and (old / "TABLES.md").exists()


def test_a_study_name_is_printed_as_it_is_never_read_as_markup(tmp_path, space_file, data_dir, cached):
    db = f"sqlite:///{tmp_path / 's.db'}"
    line = _error_line(_cli("tune", "--study", "[/bold]x", "--objectives", "speed", "--storage", db))
    assert "objectives" in line
    res = _tune(space_file, data_dir, db, "--study", "[/bold][red]x", "--out", str(tmp_path / "t"))
    assert res.exit_code == 0, res.output
    assert "study [/bold][red]x:" in res.output and "finished trials in [/bold][red]x " in res.output
