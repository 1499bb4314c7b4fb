"""What ``snnapp tune``, ``tune report`` and ``reproduce`` may do to the file system and print.

Study names are user text and become file names; output folders and files are the project's own
or refused; storage credentials never leave the URL they were given in; a bad setting stops a
study at once; Ctrl-C ends a study in one line and leaves the trial to be retried.
"""

from __future__ import annotations

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


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


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
    import platformdirs

    home = tmp_path / "home"
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(home / app))
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
    import json

    assert json.loads((best / "metrics.json").read_text())["tuning"]["storage"] == f"sqlite:///{tmp_path / 's.db'}"
    for p in (tmp_path / "t").rglob("*"):
        if p.is_file():
            assert b"SECRETPW" not in p.read_bytes(), p
    study = optuna.load_study(study_name="audio-random", storage=open_storage(db))
    assert "SECRETPW" not in repr(study.user_attrs)
