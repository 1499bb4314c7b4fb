"""Downloads from a hostile or broken server, served from 127.0.0.1.

Checksums: corrupted, truncated and cut-off files are refused and no file with a final name is
left, also when the process is killed mid-transfer. Archives: members that would land outside the
target folder (``..``, absolute paths, drive letters, symbolic links) are refused; tar archives are
not extracted at all. Redirects: only to HTTPS; plain HTTP (allowed for loopback test servers) is
followed only back to the same host and port.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from snnapp.core.data import _download as download_module
from snnapp.core.data import download, status
from snnapp.core.errors import DataError
from tests.loopback_http import Server, serve, server_url, stop

ROOT = Path(__file__).resolve().parents[2]
MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TOP = "free-spoken-digit-dataset-1.0.10"


@pytest.fixture(scope="module")
def servers(data_dir: Path) -> Iterator[tuple[Server, Server]]:
    """Two servers on two ports; both serve MNIST, and broken versions of its first file."""
    files = {f"/mnist/{n}.gz": (data_dir / "mnist" / f"{n}.gz").read_bytes() for n in MNIST_NAMES}
    first = f"{MNIST_NAMES[0]}.gz"  # downloaded first: a download stops at it
    body, mid = files[f"/mnist/{first}"], len(files[f"/mnist/{first}"]) // 2
    files[f"/flipped/{first}"] = body[:mid] + bytes([body[mid] ^ 1]) + body[mid + 1:]
    files[f"/cut/{first}"] = body[: len(body) * 3 // 4]  # honestly announced, just incomplete
    files[f"/padded/{first}"] = gzip.compress(gzip.decompress(body) + b"\0", compresslevel=1)
    pair = (serve(files), serve(files))
    yield pair
    for srv in pair:
        stop(srv)


def _finished_files(folder: Path) -> list[str]:
    """Names a reader would take for data: everything not hidden and not ``*.part``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if not p.name.endswith(".part") and not p.name.startswith(".") and p.is_file())


# --- checksums -------------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "reason"), [("flipped", "damaged|md5|CRC|crc"), ("cut", "damaged|md5|ended|EOF"),
                                              ("padded", "md5|size|bytes")])
def test_damaged_mnist_downloads_are_refused(servers, tmp_path: Path, mode: str, reason: str) -> None:
    with pytest.raises(DataError, match=reason):
        download("mnist", tmp_path, base_urls={"mnist": server_url(servers[0], f"/plain/{mode}/")})
    assert _finished_files(tmp_path) == [] and list((tmp_path / "mnist").iterdir()) == []


_DOWNLOAD = "import sys; from snnapp.core.data import download; download('mnist', sys.argv[1], base_urls={'mnist': sys.argv[2]})"


def test_download_killed_mid_transfer_leaves_only_a_part_file(servers, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _DOWNLOAD, str(tmp_path), server_url(servers[0], "/slow/mnist/")],
                            cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    part = tmp_path / "mnist" / "train-images-idx3-ubyte.gz.part"
    end = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size > 1 << 18) and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert [p.name for p in (tmp_path / "mnist").iterdir()] == [part.name]  # not complete-looking
    assert _finished_files(tmp_path) == []
    mnist = status(tmp_path)[0]
    assert not mnist.present and not mnist.verified
    download("mnist", tmp_path, base_urls={"mnist": server_url(servers[0], "/plain/mnist/")})  # starts over
    assert status(tmp_path)[0].verified
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(f"{n}.gz" for n in MNIST_NAMES)


# --- redirects -------------------------------------------------------------------------------

def test_plain_http_redirect_to_another_port_is_refused(servers, tmp_path: Path) -> None:
    a, b = servers
    before = list(b.requests)
    with pytest.raises(DataError, match=rf"refused: http://127\.0\.0\.1:{b.server_port}/plain/mnist/\S+ is not HTTPS"):
        download("mnist", tmp_path, base_urls={"mnist": server_url(a, f"/to-port/{b.server_port}/plain/mnist/")})
    assert b.requests == before  # the other server was never asked
    assert _finished_files(tmp_path) == []


@pytest.mark.parametrize("host", ["localhost", "127.0.0.2", "example.invalid"])
def test_plain_http_redirect_to_another_host_is_refused(servers, tmp_path: Path, host: str) -> None:
    with pytest.raises(DataError, match=rf"refused: http://{host}:\d+/plain/mnist/\S+ is not HTTPS"):
        download("mnist", tmp_path, base_urls={"mnist": server_url(servers[0], f"/to-host/{host}/plain/mnist/")})
    assert _finished_files(tmp_path) == []


def test_plain_http_redirect_to_the_same_server_is_followed(servers, tmp_path: Path) -> None:
    download("mnist", tmp_path, base_urls={"mnist": server_url(servers[0], "/same/plain/mnist/")})
    assert status(tmp_path)[0].verified


def _redirect(old: str, new: str) -> urllib.request.Request | None:
    return download_module._SafeRedirect().redirect_request(urllib.request.Request(old), io.BytesIO(), 302, "Found",
                                                            Message(), new)


@pytest.mark.parametrize("new", ["http://127.0.0.1:8000/mnist/x.gz", "http://localhost/x.gz", "http://example.org/x.gz",
                                 "ftp://example.org/x.gz", "file:///etc/passwd"])
def test_https_is_never_downgraded(new: str) -> None:
    with pytest.raises(DataError, match="refused"):
        _redirect("https://example.org/mnist/x.gz", new)


def test_https_redirects_are_followed() -> None:
    follow = _redirect("https://github.com/a.zip", "https://codeload.github.com/a.zip")
    assert follow is not None and follow.full_url == "https://codeload.github.com/a.zip"
    assert _redirect("http://127.0.0.1:8000/a.zip", "https://example.org/a.zip") is not None


@pytest.mark.parametrize("url", ["http://127.0.0.1.nip.io/", "http://localhost.example.invalid/",
                                 "http://127.0.0.1@example.invalid/", "http://2130706433/", "http://0.0.0.0/",
                                 "http://10.0.0.1/", "http://[fe80::1]/"])
def test_plain_http_only_to_literal_loopback(tmp_path: Path, url: str) -> None:
    with pytest.raises(DataError, match="refused non-HTTPS"):
        download("mnist", tmp_path, base_urls={"mnist": url})


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/", "http://127.3.2.1:1/", "http://localhost:1/"])
def test_loopback_sources_are_allowed(tmp_path: Path, url: str) -> None:
    with pytest.raises(DataError) as info:  # nothing listens there: refused by the OS, not by the policy
        download("mnist", tmp_path, base_urls={"mnist": url}, timeout=5)
    assert "refused non-HTTPS" not in str(info.value)


# --- archives --------------------------------------------------------------------------------

def _zip(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # unix: external_attr carries the file type
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buffer.getvalue()


def _tar(members: dict[str, bytes], links: dict[str, tuple[bytes, str]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
        for name, (kind, target) in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
    return buffer.getvalue()


def _fsdd(servers, tmp_path: Path, body: bytes) -> Path:
    servers[0].files["/archive"] = body
    data = tmp_path / "data"
    download("fsdd", data, base_urls={"fsdd": server_url(servers[0], "/plain/archive")})
    return data


def _nothing_extracted(tmp_path: Path) -> None:
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["data", "data/fsdd"]


@pytest.mark.parametrize("evil", ["../evil.wav", f"{TOP}/recordings/../../../evil.wav", "/tmp/evil.wav",
                                  "C:/evil.wav", "C:evil.wav", "\\evil.wav", f"{TOP}\\recordings\\..\\..\\evil.wav",
                                  f"{TOP}/recordings/..\\..\\..\\evil.wav"])
def test_zip_member_paths_escaping_the_target_are_refused(servers, tmp_path: Path, evil: str) -> None:
    with pytest.raises(DataError, match="outside the target folder"):
        _fsdd(servers, tmp_path, _zip({f"{TOP}/recordings/0_george_0.wav": b"RIFF", evil: b"RIFF"}))
    _nothing_extracted(tmp_path)


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../etc/passwd", "../../..", "~/x", "C:/Windows"])
def test_zip_symlinks_pointing_outside_are_refused(servers, tmp_path: Path, target: str) -> None:
    with pytest.raises(DataError, match="outside the target folder"):
        _fsdd(servers, tmp_path, _zip({f"{TOP}/recordings/0_george_0.wav": b"RIFF"},
                                      {f"{TOP}/recordings/1_george_0.wav": target}))
    _nothing_extracted(tmp_path)


def test_zip_symlink_inside_is_not_followed_or_copied(servers, tmp_path: Path, data_dir: Path) -> None:
    """The genuine recordings plus a link among them (pointing at a sibling): the link is skipped."""
    members = {f"{TOP}/recordings/{w.name}": w.read_bytes() for w in sorted((data_dir / "fsdd" / "recordings").glob("*.wav"))}
    data = _fsdd(servers, tmp_path, _zip(members, {f"{TOP}/recordings/link.wav": "0_george_0.wav"}))
    recordings = data / "fsdd" / "recordings"
    assert status(data)[1].verified and not (recordings / "link.wav").exists()
    assert not any(p.is_symlink() for p in recordings.iterdir())


def test_tar_archives_are_not_extracted(servers, tmp_path: Path) -> None:
    body = _tar({f"{TOP}/recordings/0_george_0.wav": b"RIFF", "../evil.wav": b"RIFF", "/tmp/evil2.wav": b"RIFF"},
                {f"{TOP}/recordings/1_george_0.wav": (tarfile.SYMTYPE, "/etc/passwd"),
                 f"{TOP}/recordings/2_george_0.wav": (tarfile.LNKTYPE, "/etc/passwd")})
    with pytest.raises(DataError, match="damaged"):
        _fsdd(servers, tmp_path, body)
    _nothing_extracted(tmp_path)
    assert not Path("/tmp/evil2.wav").exists()


def test_truncated_and_incomplete_fsdd_archives(servers, tmp_path: Path, data_dir: Path) -> None:
    wavs = sorted((data_dir / "fsdd" / "recordings").glob("*.wav"))
    members = {f"{TOP}/recordings/{w.name}": w.read_bytes() for w in wavs}
    whole = _zip(members)
    with pytest.raises(DataError, match="damaged"):
        _fsdd(servers, tmp_path, whole[: len(whole) // 2])
    _nothing_extracted(tmp_path)
    del members[f"{TOP}/recordings/{wavs[7].name}"]
    with pytest.raises(DataError, match="2999 WAV files, expected 3000"):
        _fsdd(servers, tmp_path, _zip(members))
    _nothing_extracted(tmp_path)


def test_staging_left_by_a_killed_download_is_removed(servers, tmp_path: Path, data_dir: Path) -> None:
    """A killed extraction leaves a hidden staging folder named with its process id; the next
    download removes it (a folder of a process still running is kept)."""
    fsdd = tmp_path / "data" / "fsdd"
    fsdd.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (fsdd / f".recordings-{dead.pid}-abc").mkdir()
    (fsdd / f".recordings-{dead.pid}-abc" / "0_george_0.wav").write_bytes(b"RIFF")
    (fsdd / f".recordings-{os.getpid()}-live").mkdir()
    with pytest.raises(DataError):
        _fsdd(servers, tmp_path, b"not a zip")
    assert sorted(p.name for p in fsdd.iterdir()) == [f".recordings-{os.getpid()}-live"]
