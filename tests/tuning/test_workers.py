"""Several worker processes on one study (journal file, PostgreSQL, MariaDB), and a killed worker's trial
marked failed by the heartbeat and retried from its checkpoint."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from snnapp.tuning import open_storage

from .conftest import snnapp_cmd, worker_env

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _two_workers(storage: str, space_file: Path, out: Path, data_dir: Path, cache_dir: Path, trials: int = 8) -> None:
    args = ["tune", "--mode", "audio", "--method", "random", "--space", str(space_file), "--trials", str(trials),
            "--limit", "96", "--epochs-per-trial", "2", "--storage", storage, "--study", "shared", "--out", str(out),
            "--device", "cpu", "--no-test"]
    procs = [subprocess.Popen(snnapp_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=worker_env(data_dir, cache_dir)) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    per_worker = [[int(n) for n in re.findall(r"^trial\s+(\d+) (?:done|pruned|infeasible)", o, re.MULTILINE)] for o, _ in outs]
    study = optuna.load_study(study_name="shared", storage=open_storage(storage))
    numbers = sorted(t.number for t in study.get_trials(states=FINISHED))
    assert len(numbers) >= trials  # both workers stop at the study's total (one may overshoot by one)
    assert numbers == list(range(len(numbers)))  # distinct numbers, no gap
    ran = sorted(n for w in per_worker for n in w)
    assert ran == numbers  # every trial ran in exactly one worker: they add up, none twice
    assert all(per_worker), per_worker  # both workers did work
    assert len(numbers) <= trials + 1


def test_two_workers_share_a_journal_file_study(tmp_path, space_file, data_dir, warm_cache):
    _two_workers(f"journal:{tmp_path / 'study.log'}", space_file, tmp_path / "t", data_dir, warm_cache)


def test_two_workers_share_a_postgresql_study(tmp_path, space_file, data_dir, warm_cache, postgres_url):
    open_storage(postgres_url)  # create the schema once, before the workers start
    _two_workers(postgres_url, space_file, tmp_path / "t", data_dir, warm_cache)


def test_two_workers_share_a_mysql_study(tmp_path, space_file, data_dir, warm_cache, mysql_url):
    open_storage(mysql_url)  # create the schema once, before the workers start
    _two_workers(mysql_url, space_file, tmp_path / "t", data_dir, warm_cache)


VICTIM = r'''
import sys, time
from pathlib import Path
from snnapp.tuning import TuneSettings, load_space, run_study

class Slow:
    def epoch_start(self, *a): pass
    def batch_end(self, *a): pass
    def message(self, text): pass
    def epoch_end(self, epoch, row):
        print("EPOCH", epoch, flush=True)
        time.sleep(float(sys.argv[5]))

db, space, out, data, _, trials = sys.argv[1:7]
s = TuneSettings(mode="audio", method="random", space=load_space(Path(space)), epochs_per_trial=6, limit=96,
                 trials=int(trials), storage=db, out=Path(out), device="cpu", heartbeat_s=1, grace_s=2, test=False)
run_study(s, Path(data), progress=Slow())
print("DONE", flush=True)
'''


def test_killed_worker_trial_is_failed_and_retried_from_its_checkpoint(tmp_path, space_file, data_dir, warm_cache):
    db = f"sqlite:///{tmp_path / 's.db'}"
    open_storage(db)

    def spawn(sleep: float, trials: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", VICTIM, db, str(space_file), str(tmp_path / "t"), str(data_dir),
                                 str(sleep), str(trials)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=worker_env(data_dir, warm_cache))

    victim = spawn(0.6, 1)
    t0 = time.monotonic()
    for line in victim.stdout:  # type: ignore[union-attr]
        if line.split() == ["EPOCH", "2"] and time.monotonic() - t0 > 1.5:
            break
    time.sleep(0.8)  # epoch 2's checkpoint is written after its report
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    study = optuna.load_study(study_name="audio-random", storage=open_storage(db))
    assert study.trials[0].state == TrialState.RUNNING
    time.sleep(3)  # past the grace period
    rescuer = spawn(0.0, 2)
    out, err = rescuer.communicate(timeout=300)
    assert rescuer.returncode == 0, err[-3000:]
    trials = optuna.load_study(study_name="audio-random", storage=open_storage(db)).trials
    assert trials[0].state == TrialState.FAIL
    retry = next(t for t in trials if t.user_attrs.get("resumed_from") == 0)
    assert retry.state == TrialState.COMPLETE and retry.params == trials[0].params
    assert retry.user_attrs["epochs_run"] == 6
    # the retry continued after the last checkpoint (epoch 2, or 1 if the kill beat its write), not from scratch
    assert out.splitlines()[0] in ("EPOCH 2", "EPOCH 3")
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 2
