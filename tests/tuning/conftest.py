"""Fixtures for the tuning tests: a tiny audio search space, a warm feature cache, and throwaway
PostgreSQL and MariaDB servers on loopback (skipped when Debian's server binaries are missing)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _service_account(name: str) -> pwd.struct_passwd | None:
    """The account to run a database server as when the tests run as root (the servers refuse root);
    None when they do not. Skips when root has no such account to hand the server to."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pytest.skip(f"running as root and there is no {name!r} user to run the database server as")


def _run_as(account: pwd.struct_passwd | None, *paths: Path) -> list[str]:
    """The command prefix that runs a program as ``account`` (nothing when None), after handing it ``paths``."""
    if account is None:
        return []
    for p in paths:
        os.chown(p, account.pw_uid, account.pw_gid)
    return ["runuser", "-u", account.pw_name, "--"]


def _run(prefix: list[str], cwd: Path, *args: str) -> None:
    """Run a server's setup command; a failure shows the command's own output, not just its status."""
    res = subprocess.run([*prefix, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.fail(f"{Path(args[0]).name} failed ({res.returncode}): {(res.stderr or res.stdout)[-2000:]}")


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
    account = _service_account("postgres")
    root = Path(tempfile.mkdtemp(prefix="snnapp-pg-"))
    (root / "sock").mkdir()
    prefix = _run_as(account, root, root / "sock")

    def run(*args: str) -> None:
        _run(prefix, root, *args)

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


def _mysql_bins() -> tuple[str, str] | None:
    """MariaDB's data-directory initialiser and server (or their MySQL names); the server lives in
    sbin, which is often not on a user's PATH."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    install = shutil.which("mariadb-install-db", path=path) or shutil.which("mysql_install_db", path=path)
    server = shutil.which("mariadbd", path=path) or shutil.which("mysqld", path=path)
    return (install, server) if install and server else None


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A MariaDB server of its own on 127.0.0.1 with an ``optuna`` user (password login) and database."""
    if os.environ.get("SNNAPP_TEST_MYSQL_URL"):
        yield os.environ["SNNAPP_TEST_MYSQL_URL"]
        return
    bins = _mysql_bins()
    if bins is None:
        pytest.skip("MariaDB server binaries not found; apt-get install mariadb-server")
    install, mysqld = bins
    pymysql = pytest.importorskip("pymysql", reason="pip install PyMySQL")
    account = _service_account("mysql")
    root = Path(tempfile.mkdtemp(prefix="snnapp-mysql-"))
    prefix = _run_as(account, root)
    data, sock, log = root / "data", root / "mysqld.sock", root / "server.log"
    server: subprocess.Popen | None = None

    def admin() -> Any:
        # root logs in on the private socket only: --skip-name-resolve keeps 'localhost' off TCP
        return pymysql.connect(unix_socket=str(sock), user="root", connect_timeout=2, autocommit=True)

    try:
        _run(prefix, root, install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
             "--skip-test-db", "--skip-name-resolve")
        port = _free_port()
        server = subprocess.Popen(
            [*prefix, mysqld, "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
             "--bind-address=127.0.0.1", "--skip-name-resolve", f"--pid-file={root / 'mysqld.pid'}",
             f"--log-error={log}", f"--tmpdir={root}", "--character-set-server=utf8mb4",
             "--collation-server=utf8mb4_general_ci", "--innodb-buffer-pool-size=64M",
             "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"],
            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"mariadbd exited with {server.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                conn = admin()
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    pytest.fail(f"mariadbd did not accept connections in 90 s: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.2)
        with conn, conn.cursor() as cur:
            # the initialiser also makes password-less root accounts for 127.0.0.1, ::1 and the host name
            cur.execute("SELECT User, Host FROM mysql.user WHERE User = 'root' AND Host <> 'localhost'")
            for user, host in cur.fetchall():
                cur.execute("DROP USER %s@%s", (user, host))
            cur.execute("CREATE USER 'optuna'@'127.0.0.1' IDENTIFIED BY 'optuna-pw'")
            cur.execute("CREATE DATABASE optuna CHARACTER SET utf8mb4")
            cur.execute("GRANT ALL PRIVILEGES ON optuna.* TO 'optuna'@'127.0.0.1'")
        # the way the workers come in: TCP, with the password
        pymysql.connect(host="127.0.0.1", port=port, user="optuna", password="optuna-pw", database="optuna").close()
        yield f"mysql+pymysql://optuna:optuna-pw@127.0.0.1:{port}/optuna"
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # a clean shutdown; runuser passes it on as well
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        shutil.rmtree(root, ignore_errors=True)
