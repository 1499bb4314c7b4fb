"""Fixtures for the tuning tests: a tiny audio search space, a warm feature cache, and a
throwaway PostgreSQL server on loopback (skipped when Debian's server binaries are missing)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Fixed settings that make a trial take a fraction of a second on one core.
TINY_FIXED = {"audio_hidden": [32], "num_steps": 8, "batch_size": 32, "augment": False}
TINY_TOML = """
[params.lr]
low = 1e-3
high = 2e-2
log = true
grid = [3e-3, 1e-2]

[params.correct_rate]
low = 0.6
high = 1.0
grid = [0.8, 1.0]

[params.incorrect_rate]
low = 0.0
high = 0.4

[fixed]
audio_hidden = [32]
num_steps = 8
batch_size = 32
augment = false
"""


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    path = tmp_path / "space.toml"
    path.write_text(TINY_TOML)
    return path


@pytest.fixture(scope="session")
def warm_cache(data_dir: Path, cache_dir: Path) -> Path:
    """The session's feature cache with the audio features computed once (workers reuse them)."""
    from snnapp.core.examples import load_examples

    for split in ("train", "val", "test"):
        load_examples("audio", split, data_dir, cache_dir=cache_dir)
    return cache_dir


def worker_env(data_dir: Path, cache_dir: Path) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "SNNAPP_DATA_DIR": str(data_dir),
            "SNNAPP_CACHE_DIR": str(cache_dir), "PYTHONWARNINGS": "ignore"}


def snnapp_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from snnapp.cli import main; main()", *args]


def _pg_bin() -> str | None:
    candidates = [os.environ.get("PG_BIN", ""), *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for d in candidates:
        if d and all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "psql")):
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own on 127.0.0.1 with an ``optuna`` role and database."""
    if os.environ.get("SNNAPP_TEST_POSTGRES_URL"):
        yield os.environ["SNNAPP_TEST_POSTGRES_URL"]
        return
    pg = _pg_bin()
    if pg is None:
        pytest.skip("PostgreSQL server binaries not found; apt-get install postgresql, or set PG_BIN")
    pytest.importorskip("psycopg2", reason="pip install psycopg2-binary")
    root = Path(tempfile.mkdtemp(prefix="snnapp-pg-"))
    (root / "sock").mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        pw = pwd.getpwnam("postgres")
        for p in (root, root / "sock"):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], cwd=root, check=True, capture_output=True, text=True)

    data = root / "data"
    run(f"{pg}/initdb", "-D", str(data), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
        "--encoding=UTF8", "--no-locale", "--no-sync")
    port = _free_port()
    run(f"{pg}/pg_ctl", "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60", "-o",
        f"-p {port} -k {root / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off", "start")
    try:
        psql = [f"{pg}/psql", "-h", str(root / "sock"), "-p", str(port), "-U", "postgres", "-d", "postgres",
                "-v", "ON_ERROR_STOP=1", "-qAt", "-c"]
        run(*psql, "CREATE ROLE optuna LOGIN PASSWORD 'optuna-pw'")
        run(*psql, "CREATE DATABASE optuna OWNER optuna")
        yield f"postgresql+psycopg2://optuna:optuna-pw@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run([*prefix, f"{pg}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"], cwd=root,
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
