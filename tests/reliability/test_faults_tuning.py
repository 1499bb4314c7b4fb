"""Tuning under faults: workers SIGKILLed in the middle of a trial (journal file, SQLite, PostgreSQL),
and a PostgreSQL server stopped while workers run, shorter and longer than the workers wait for it.

Whatever happens, the study must end with exactly the trials asked for, each completed trial kept
and run by one worker only, the killed trials failed (not left running) and retried once, and
nothing waiting or running left behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from snnapp.tuning import TuneSettings, load_space, open_storage, run_study
from tests.tuning.conftest import _free_port, _pg_bin, snnapp_cmd, worker_env

# always feasible (correct_rate above incorrect_rate), so no trial is pruned and COMPLETE = finished
SPACE = """
[params.lr]
low = 1e-3
high = 2e-2
log = true

[params.correct_rate]
low = 0.7
high = 1.0

[params.incorrect_rate]
low = 0.0
high = 0.3

[fixed]
audio_hidden = [32]
num_steps = 8
batch_size = 32
augment = false
"""
TOTAL = 5
DONE = re.compile(r"^trial\s+(\d+) done", re.MULTILINE)


@pytest.fixture(scope="session")
def warm_cache(data_dir: Path, cache_dir: Path) -> Path:
    """The session's feature cache with the audio features the workers read computed once."""
    from snnapp.core.examples import load_examples

    for split in ("train", "val"):
        load_examples("audio", split, data_dir, cache_dir=cache_dir)
    return cache_dir


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    path = tmp_path / "space.toml"
    path.write_text(SPACE)
    return path


class PgServer:
    """A PostgreSQL server of this module's own, which the tests stop and start again."""

    def __init__(self, pg_bin: str) -> None:
        import pwd
        import tempfile

        self.bin = pg_bin
        self.root = Path(tempfile.mkdtemp(prefix="snnapp-pgfault-"))
        (self.root / "sock").mkdir()
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            pw = pwd.getpwnam("postgres")
            for p in (self.root, self.root / "sock"):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.data = self.root / "data"
        self.port = _free_port()

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], cwd=self.root, check=True, capture_output=True, text=True)

    def init(self) -> None:
        self._run(f"{self.bin}/initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync")
        self.start()
        psql = [f"{self.bin}/psql", "-h", str(self.root / "sock"), "-p", str(self.port), "-U", "postgres",
                "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-c"]
        self._run(*psql, "CREATE ROLE optuna LOGIN PASSWORD 'optuna-pw'")
        self._run(*psql, "CREATE DATABASE optuna OWNER optuna")

    def start(self) -> None:
        self._run(f"{self.bin}/pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off "
                        "-c synchronous_commit=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(f"{self.bin}/pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://optuna:optuna-pw@127.0.0.1:{self.port}/optuna"


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    import shutil

    pg_bin = _pg_bin()
    if pg_bin is None:
        pytest.skip("PostgreSQL server binaries not found; apt-get install postgresql, or set PG_BIN")
    pytest.importorskip("psycopg2", reason="pip install psycopg2-binary")
    server = PgServer(pg_bin)
    try:
        server.init()
        open_storage(server.url)  # the schema, once, before any worker starts
        yield server
    finally:
        if server.running():
            subprocess.run([*server.prefix, f"{pg_bin}/pg_ctl", "-D", str(server.data), "-m", "immediate", "-w",
                            "stop"], cwd=server.root, capture_output=True, check=False)
        shutil.rmtree(server.root, ignore_errors=True)


class Workers:
    """``snnapp tune`` worker processes on one study; each one's output goes to files of its own."""

    def __init__(self, storage: str, study: str, tmp: Path, space: Path, data_dir: Path, cache_dir: Path,
                 *extra: str) -> None:
        self.storage, self.study, self.tmp = storage, study, tmp
        self.args = ["tune", "--mode", "audio", "--method", "random", "--space", str(space), "--trials", str(TOTAL),
                     "--limit", "600", "--epochs-per-trial", "6", "--pruner", "none", "--storage", storage,
                     "--study", study, "--out", str(tmp / "trials"), "--device", "cpu", "--no-test",
                     "--heartbeat", "1", "--grace", "3", *extra]
        self.env = worker_env(data_dir, cache_dir)
        self.procs: list[subprocess.Popen] = []

    def start(self, n: int = 1) -> list[subprocess.Popen]:
        new = []
        for _ in range(n):
            i = len(self.procs)
            with open(self.tmp / f"w{i}.out", "w") as out, open(self.tmp / f"w{i}.err", "w") as err:
                p = subprocess.Popen(snnapp_cmd(*self.args), stdout=out, stderr=err, env=self.env)
            self.procs.append(p)
            new.append(p)
        return new

    def output(self, i: int) -> tuple[str, str]:
        return (self.tmp / f"w{i}.out").read_text(), (self.tmp / f"w{i}.err").read_text()

    def wait(self, timeout: float = 150) -> None:
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for q in self.procs:
                    q.kill()
                raise AssertionError(f"workers still running after {timeout} s: "
                                     f"{[self.output(i) for i in range(len(self.procs))]}") from None

    def done(self, i: int) -> list[int]:
        """The trials worker ``i`` reported done."""
        return [int(n) for n in DONE.findall(self.output(i)[0])]

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return optuna.load_study(study_name=self.study, storage=open_storage(self.storage)).get_trials()

    def kill_in_trial(self, victim: subprocess.Popen, timeout: float = 90) -> int:
        """SIGKILL ``victim`` while it runs a trial (after that trial's first heartbeat); returns its number."""
        me = re.compile(rf":{victim.pid}$")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert victim.poll() is None, "the victim ended before it ran a trial"
            try:
                running = [t for t in self.trials() if t.state == TrialState.RUNNING
                           and me.search(str(t.user_attrs.get("worker", "")))]
            except (KeyError, ValueError):  # the study is not created yet
                running = []
            if running:
                time.sleep(0.3)  # inside the training loop, past the heartbeat written as the trial began
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                return running[0].number
            time.sleep(0.1)
        raise AssertionError("the victim never started a trial")


def check_study(w: Workers, killed: list[int], reporters: list[int], ok: list[int] | None = None,
                all_reported: bool = True, outage: bool = False) -> None:
    """Exactly TOTAL complete trials, each reported done by one of ``reporters`` (``all_reported``: a
    worker that lost its storage just after a trial's result was stored cannot say so), none twice;
    the killed ones failed and retried once; workers ``ok`` (default: the reporters) ended well and
    without a traceback. With ``outage``, a failed trial that no worker ever started is allowed: the
    server may commit a new trial and lose the connection before it says so, and the retry then
    creates another (the first, never run, is failed as stale)."""
    trials = w.trials()
    by_state: dict[TrialState, list[int]] = {}
    for t in trials:
        by_state.setdefault(t.state, []).append(t.number)
    complete = by_state.get(TrialState.COMPLETE, [])
    assert len(complete) == TOTAL, by_state
    assert not by_state.get(TrialState.RUNNING) and not by_state.get(TrialState.WAITING), by_state
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(numbers)))  # distinct, no gap
    # every completed trial is kept with its result, and was reported done by exactly one worker
    for t in trials:
        if t.state == TrialState.COMPLETE:
            assert t.value is not None and t.user_attrs["val_accuracy"] == pytest.approx(t.value)
    reported = sorted(n for i in reporters for n in w.done(i))
    assert len(set(reported)) == len(reported), reported  # no trial run (or counted) twice
    if all_reported:
        assert reported == sorted(complete), (reported, by_state)
    else:
        assert set(reported) <= set(complete), (reported, by_state)
    for n in killed:
        assert trials[n].state == TrialState.FAIL, (n, trials[n].state)
        retries = [t for t in trials if t.system_attrs.get("failed_trial") == n]
        assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE, retries
        # what it drew is kept; one stranded before it drew all its parameters draws the rest anew
        assert trials[n].params.items() <= retries[0].params.items(), (trials[n].params, retries[0].params)
    # the only other failures are trials that stepped back unrun because the study had its trials
    others = [t for t in trials if t.state == TrialState.FAIL and t.number not in killed]
    assert all(t.user_attrs.get("surplus") or (outage and "worker" not in t.user_attrs) for t in others), \
        [(t.number, t.user_attrs) for t in others]
    for i in reporters if ok is None else ok:
        out, err = w.output(i)
        assert w.procs[i].returncode == 0, (out, err[-3000:])
        assert "Traceback" not in out + err, err[-3000:]


def _kill_and_replace(w: Workers, n_workers: int) -> None:
    first = w.start(n_workers)
    killed = w.kill_in_trial(first[-1])
    w.start(1)  # the replacement
    w.wait()
    survivors = [i for i in range(len(w.procs)) if i != n_workers - 1]
    check_study(w, [killed], survivors)
    assert killed not in w.done(n_workers - 1)


def test_killed_worker_on_a_journal_file(tmp_path, space_file, data_dir, warm_cache):
    w = Workers(f"journal:{tmp_path / 'study.log'}", "kill", tmp_path, space_file, data_dir, warm_cache)
    _kill_and_replace(w, 2)


def test_killed_worker_on_sqlite(tmp_path, space_file, data_dir, warm_cache):
    db = f"sqlite:///{tmp_path / 'study.db'}"
    open_storage(db)  # the schema, once, before the workers start
    w = Workers(db, "kill", tmp_path, space_file, data_dir, warm_cache)
    _kill_and_replace(w, 2)


def test_killed_worker_on_postgresql(tmp_path, space_file, data_dir, warm_cache, pg):
    w = Workers(pg.url, f"kill-{uuid.uuid4().hex[:8]}", tmp_path, space_file, data_dir, warm_cache)
    _kill_and_replace(w, 3)


def test_a_trial_failed_under_a_live_worker_does_not_stop_it(tmp_path, space_file, data_dir, warm_cache):
    # as when a stalled machine's heartbeat comes late and another worker fails its running trial
    w = Workers(f"journal:{tmp_path / 'study.log'}", "late", tmp_path, space_file, data_dir, warm_cache)
    (worker,) = w.start(1)
    storage = open_storage(w.storage)
    deadline = time.monotonic() + 90
    victim = None
    while victim is None and time.monotonic() < deadline:
        try:
            victim = next((t for t in w.trials() if t.state == TrialState.RUNNING and "worker" in t.user_attrs), None)
        except (KeyError, ValueError):
            pass
        time.sleep(0.1)
    assert victim is not None, w.output(0)
    storage.set_trial_state_values(victim._trial_id, TrialState.FAIL)
    w.wait()
    out, err = w.output(0)
    assert worker.returncode == 0 and "Traceback" not in out + err, err[-3000:]
    assert f"trial {victim.number} was marked failed by another worker" in err
    trials = w.trials()
    assert trials[victim.number].state == TrialState.FAIL
    assert sum(t.state == TrialState.COMPLETE for t in trials) == TOTAL
    assert sorted(w.done(0)) == sorted(t.number for t in trials if t.state == TrialState.COMPLETE)


def _wait_for_trials(w: Workers, n: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if sum(t.state == TrialState.COMPLETE for t in w.trials()) >= n:
                return
        except (KeyError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} trials finished in {timeout} s")


def test_postgresql_restart_is_ridden_out(tmp_path, space_file, data_dir, warm_cache, pg):
    w = Workers(pg.url, f"blip-{uuid.uuid4().hex[:8]}", tmp_path, space_file, data_dir, warm_cache)
    w.start(2)
    _wait_for_trials(w, 1)
    pg.stop("fast")  # in the middle of the next trials: connections cut, nothing answers
    time.sleep(4)  # longer than the grace period: every heartbeat is stale when it comes back
    pg.start()
    w.wait()
    check_study(w, [], [0, 1], outage=True)
    err = w.output(0)[1] + w.output(1)[1]
    assert "does not answer" in err and "answers again" in err  # the workers said what they waited for
    assert "optuna-pw" not in err


def test_postgresql_outage_past_the_wait_stops_workers_with_one_line_then_resumes(
        tmp_path, space_file, data_dir, warm_cache, pg):
    w = Workers(pg.url, f"down-{uuid.uuid4().hex[:8]}", tmp_path, space_file, data_dir, warm_cache,
                "--storage-wait", "3")
    w.start(2)
    _wait_for_trials(w, 1)
    before = {t.number for t in w.trials() if t.state == TrialState.COMPLETE}
    pg.stop("fast")
    try:
        w.wait(timeout=60)
    finally:
        pg.start()
    for i in range(2):
        out, err = w.output(i)
        assert w.procs[i].returncode == 2, (out, err)
        assert "Traceback" not in out + err, err[-3000:]
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1, err
        assert f"storage postgresql+psycopg2://optuna:***@127.0.0.1:{pg.port}/optuna has not answered" in lines[0]
        assert "optuna-pw" not in out + err
    trials = w.trials()
    stranded = [t.number for t in trials if t.state == TrialState.RUNNING]
    # nothing done was lost (the last result may have been stored just before the storage went)
    complete = {t.number for t in trials if t.state == TrialState.COMPLETE}
    assert before | {n for i in range(2) for n in w.done(i)} <= complete
    # the same command again finishes the study; the trials stranded by the outage are failed and retried
    w.start(1)
    w.wait()
    check_study(w, stranded, [0, 1, 2], ok=[2], all_reported=False, outage=True)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_rerun_of_a_finished_study_fails_its_stale_running_trial(tmp_path, space_file, data_dir, warm_cache):
    db = f"journal:{tmp_path / 'study.log'}"
    settings = TuneSettings(mode="audio", method="random", space=load_space(space_file), epochs_per_trial=1, limit=96,
                            trials=2, storage=db, out=tmp_path / "t", device="cpu", heartbeat_s=1, grace_s=2,
                            test=False)
    run_study(settings, data_dir, cache_dir=warm_cache)
    storage = open_storage(db)
    study = optuna.load_study(study_name="audio-random", storage=storage)
    orphan = study.ask()  # as a worker killed after its last heartbeat would leave it
    storage.record_heartbeat(orphan._trial_id)  # type: ignore[attr-defined]
    time.sleep(3)  # past the grace period
    out = run_study(settings, data_dir, cache_dir=warm_cache)
    trials = optuna.load_study(study_name="audio-random", storage=open_storage(db)).get_trials()
    assert out.finished == 2
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]
    # the study has its trials: the failed one is not queued again to linger as waiting
