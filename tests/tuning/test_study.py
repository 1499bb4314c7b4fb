"""Studies end to end on tiny audio trials: resume, refusal of another mode, the best model, pruning,
multi-objective, and the command line's one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from snnapp.cli import app
from snnapp.core.errors import ConfigError
from snnapp.core.modelio import load_model
from snnapp.tuning import TuneSettings, load_space, open_storage, run_study


def _settings(tmp_path: Path, space_file: Path, **kw) -> TuneSettings:
    base = {"mode": "audio", "method": "random", "space": load_space(space_file), "epochs_per_trial": 2, "limit": 96,
            "trials": 3, "storage": f"sqlite:///{tmp_path / 's.db'}", "out": tmp_path / "trials", "device": "cpu"}
    base.update(kw)
    return TuneSettings(**base)


def test_study_resumes_and_keeps_the_best_model_tested_once(tmp_path, space_file, data_dir, warm_cache):
    settings = _settings(tmp_path, space_file)
    first = run_study(settings, data_dir, cache_dir=warm_cache)
    assert first.finished == 3 and first.test_accuracy is not None
    folder = load_model(first.best_model_dir)
    assert folder.config.mode == "audio" and folder.config.network.audio_hidden == (32,)
    assert folder.config.training["lr"] == pytest.approx(first.best["params"]["lr"])
    assert folder.metrics["test"]["accuracy"] == first.test_accuracy
    assert folder.metrics["tuning"]["trial"] == first.best["trial"]
    assert (first.best_model_dir / "MODEL_CARD.md").exists()
    # the same command again with a larger budget resumes: the 3 finished trials count
    again = run_study(_settings(tmp_path, space_file, trials=5), data_dir, cache_dir=warm_cache)
    study = optuna.load_study(study_name="audio-random", storage=open_storage(settings.storage))
    assert again.finished == 5 and len(study.trials) == 5
    assert study.user_attrs["test_trial"] == again.best["trial"]
    kept = sorted(p.name for p in (tmp_path / "trials").iterdir())
    assert kept == ["best", "snnapp-study.json", f"trial-{again.best['trial']:04d}"]  # other trial models are dropped


def test_a_study_of_another_mode_or_space_is_refused(tmp_path, space_file, data_dir, warm_cache):
    run_study(_settings(tmp_path, space_file, trials=1, test=False), data_dir, cache_dir=warm_cache)
    with pytest.raises(ConfigError, match="tunes the audio network, not image"):
        run_study(_settings(tmp_path, space_file, mode="image", study="audio-random"), data_dir)
    with pytest.raises(ConfigError, match="other settings: epochs_per_trial 2"):
        run_study(_settings(tmp_path, space_file, epochs_per_trial=3), data_dir)


def test_grid_cmaes_gp_and_hyperband_run(tmp_path, space_file, data_dir, warm_cache):
    grid = run_study(_settings(tmp_path, space_file, method="grid", trials=None, test=False,
                               space=load_space(space_file).with_grid({"incorrect_rate": [0.0]})),
                     data_dir, cache_dir=warm_cache)
    assert grid.finished == 4  # the whole 2 x 2 x 1 grid
    for method, sampler, pruner in (("cmaes", None, "hyperband"), ("bayes", "gp", "median")):
        out = run_study(_settings(tmp_path, space_file, method=method, sampler=sampler, pruner=pruner, trials=2,
                                  test=False, out=tmp_path / method), data_dir, cache_dir=warm_cache)
        assert out.finished == 2 and out.best


def test_pruning_stops_hopeless_trials(tmp_path, space_file, data_dir, warm_cache):
    # a median pruner after 3 complete trials; a learning rate this small cannot keep up
    settings = _settings(tmp_path, space_file, trials=7, epochs_per_trial=4, pruner="median", test=False)
    run_study(settings, data_dir, cache_dir=warm_cache)
    study = optuna.load_study(study_name="audio-random", storage=open_storage(settings.storage))
    states = [t.state for t in study.trials]
    assert len(states) == 7
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    for t in pruned:
        assert t.user_attrs["epochs_run"] < 4 and t.intermediate_values


def test_multi_objective_finds_a_pareto_front(tmp_path, space_file, data_dir, warm_cache):
    out = run_study(_settings(tmp_path, space_file, objectives=("accuracy", "spikes"), trials=3, test=False),
                    data_dir, cache_dir=warm_cache)
    study = optuna.load_study(study_name="audio-random", storage=open_storage(f"sqlite:///{tmp_path / 's.db'}"))
    assert len(study.directions) == 2 and study.best_trials
    assert len(out.best["values"]) == 2
    with pytest.raises(ConfigError, match="cmaes optimises one objective"):
        run_study(_settings(tmp_path, space_file, method="cmaes", study="x", objectives=("accuracy", "synops")),
                  data_dir)


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("args, message", [
    (["--method", "anneal"], "unknown method 'anneal'"),
    (["--mode", "video"], "unknown mode 'video'"),
    (["--storage", "postgresql+psycopg2://u:secret@127.0.0.1:1/db"], "cannot open storage postgresql+psycopg2://u:***@"),
    (["--storage", "mysql+pymysql://u:secret@127.0.0.1:1/db"], "cannot open storage mysql+pymysql://u:***@"),
    (["--objectives", "speed"], "objectives"),
    (["--method", "grid", "--grid", "lr"], "--grid expects NAME=v1,v2"),
    (["--method", "grid", "--grid", "beta=0.9"], "does not search"),
    (["--method", "grid", "--grid", "correct_rate=0.3"], "grid value 0.3 lies outside its range"),
    (["--method", "random", "--sampler", "gp"], "applies to bayes only"),
    (["--storage", "sqlite:////proc/no/such.db"], "cannot create the folder"),
])
def test_bad_input_is_one_error_line(tmp_path, args, message):
    res = _cli("tune", "--storage", f"sqlite:///{tmp_path / 's.db'}", "--data-dir", str(tmp_path), *args)
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output
    assert "secret" not in res.output


@pytest.mark.parametrize("url, module, package", [
    ("mysql+pymysql://u:secret@db-host/optuna", "pymysql", "pip install PyMySQL"),
    ("postgresql+psycopg2://u:secret@db-host/optuna", "psycopg2", "pip install psycopg2-binary"),
])
def test_a_missing_driver_names_its_own_package(monkeypatch, url, module, package):
    class NotInstalled:
        """Fails the driver's import the way a missing package does."""

        @staticmethod
        def find_spec(name: str, *args: object) -> None:
            if name == module:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [NotInstalled(), *sys.meta_path])
    with pytest.raises(ConfigError) as err:
        open_storage(url)
    assert f"missing database driver {module!r} ({package})" in str(err.value)
    assert "secret" not in str(err.value)


def test_a_study_of_another_mode_is_one_error_line(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=open_storage(db), study_name="mine")
    study.set_user_attr("mode", "audio")
    study.set_user_attr("space", "{}")
    res = _cli("tune", "--mode", "image", "--study", "mine", "--storage", db)
    assert res.exit_code == 2 and "tunes the audio network, not image" in res.output
    assert len(res.output.strip().splitlines()) == 2  # the study line, then the error


def test_contradictory_space_file_is_one_error_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("params:\n  correct_rate: {low: 0.1, high: 0.3}\n  incorrect_rate: {low: 0.4, high: 0.5}\n")
    res = _cli("tune", "--space", str(bad), "--storage", f"sqlite:///{tmp_path / 's.db'}")
    assert res.exit_code == 2 and "contradictory space" in res.output and len(res.output.strip().splitlines()) == 1


def test_cli_tune_then_report_with_csv_and_plots(tmp_path, space_file, data_dir, warm_cache, monkeypatch):
    monkeypatch.setenv("SNNAPP_CACHE_DIR", str(warm_cache))
    db = f"sqlite:///{tmp_path / 's.db'}"
    res = _cli("tune", "--mode", "audio", "--method", "bayes", "--space", str(space_file), "--trials", "3",
               "--limit", "96", "--epochs-per-trial", "2", "--storage", db, "--out", str(tmp_path / "t"),
               "--device", "cpu", "--data-dir", str(data_dir))
    assert res.exit_code == 0, res.output
    assert "test accuracy of the best model" in res.output and "best model:" in res.output
    res = _cli("tune", "report", "--storage", db, "audio-bayes", "--csv", str(tmp_path / "r.csv"),
               "--plots", str(tmp_path / "plots"))
    assert res.exit_code == 0, res.output
    assert "| audio-bayes | audio | bayes (tpe) |" in res.output
    assert (tmp_path / "r.csv").read_text().startswith("study,mode,method")
    assert (tmp_path / "plots" / "audio-bayes_history.png").exists()
    res = _cli("tune", "report", "--storage", db, "nothing")
    assert res.exit_code == 2 and "no study 'nothing'" in res.output


def test_a_worker_elsewhere_names_where_the_best_model_is(tmp_path, space_file, data_dir, warm_cache):
    # two "machines": the same study, trial folders that do not see each other
    here = run_study(_settings(tmp_path, space_file, trials=2, out=tmp_path / "a"), data_dir, cache_dir=warm_cache)
    assert here.best_model_dir is not None and here.test_accuracy is not None
    there = run_study(_settings(tmp_path, space_file, trials=2, out=tmp_path / "b"), data_dir, cache_dir=warm_cache)
    assert there.finished == 2 and there.best_model_dir is None and not (tmp_path / "b" / "best").exists()
    assert there.best_model_elsewhere is not None and there.best_model_elsewhere.endswith(str(here.best_model_dir))
    assert there.test_accuracy == here.test_accuracy  # tested once, by the worker that keeps it
