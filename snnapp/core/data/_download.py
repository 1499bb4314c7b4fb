"""Fetching MNIST and FSDD over HTTPS, verified before anything lands at its final path.

Every file is streamed to ``<target>.part`` next to its target, checked, and only then moved
into place with ``os.replace``; on any failure the ``.part`` file is deleted, so a file at a
final path is always a complete, verified one. FSDD is extracted into a temporary folder beside
``recordings/`` and renamed into place once its manifest matches.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import uuid
import zipfile
import zlib
from collections.abc import Callable
from http.client import HTTPException, HTTPMessage
from pathlib import Path
from typing import IO, Literal
from urllib.parse import urlsplit

from snnapp.core.data._manifest import (
    FSDD_FILE_COUNT,
    FSDD_MANIFEST_SHA256,
    FSDD_TAG,
    MNIST_FILES,
    find_mnist_file,
    fsdd_manifest,
    fsdd_problem,
    fsdd_recordings_dir,
    mnist_dir,
    mnist_file_problem,
    remember_md5,
)
from snnapp.core.errors import DataError, Hint

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/{FSDD_TAG}.zip"
#: No single download or extraction may exceed this, whatever the server claims.
MAX_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 16

#: ``progress(label, bytes_done, bytes_total_or_None)``, called as each chunk arrives.
ProgressCallback = Callable[[str, int, int | None], None]

#: The other remedy of a data set that cannot be had: a data folder that has it.
_OTHER_FOLDER = Hint("data_dir", "a folder that has mnist/ and fsdd/recordings/")
_WRITABLE = Hint("data_dir", "a writable folder")


class _TransferError(DataError):
    """A download from one URL failed (network, HTTP, refused URL, failed verification)."""


def _check_url(url: str) -> None:
    """Allow HTTPS anywhere, plain HTTP only to a loopback host (a local test or cache server)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http":
        host = parts.hostname or ""
        if host == "localhost":
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
    raise _TransferError(f"refused non-HTTPS URL {url}")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


class _SafeRedirect(urllib.request.HTTPRedirectHandler):
    """Follows redirects to HTTPS only; plain HTTP only back to the very loopback server (same
    host and port) that answered, so a local test server cannot send the client anywhere else."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme != "https":
            if _origin(newurl) != _origin(req.full_url):
                raise _TransferError(f"redirect from {req.full_url} refused: {newurl} is not HTTPS (plain HTTP is "
                                     "followed only back to the same loopback host and port)")
            try:
                _check_url(newurl)
            except _TransferError as exc:
                raise _TransferError(f"redirect from {req.full_url} to {newurl} refused: {exc}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _fetch(url: str, part: Path, label: str, progress: ProgressCallback | None, timeout: float) -> None:
    """Stream ``url`` into ``part``; raise ``_TransferError`` unless every promised byte arrived."""
    _check_url(url)
    opener = urllib.request.build_opener(_SafeRedirect)
    request = urllib.request.Request(url, headers={"User-Agent": "snnapp"})
    try:
        out = open(part, "wb")
    except OSError as exc:
        raise DataError(f"cannot write {part} ({exc})", hint=_WRITABLE) from exc
    with out:
        try:
            with opener.open(request, timeout=timeout) as response:
                _check_url(response.geturl())
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if total is not None and total > MAX_BYTES:
                    raise _TransferError(f"{url}: server announces {total} bytes, more than {MAX_BYTES}")
                done = 0
                while chunk := response.read(_CHUNK):
                    done += len(chunk)
                    if done > MAX_BYTES:
                        raise _TransferError(f"{url}: more than {MAX_BYTES} bytes, aborted")
                    out.write(chunk)
                    if progress is not None:
                        progress(label, done, total)
        except urllib.error.HTTPError as exc:
            raise _TransferError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            raise _TransferError(f"{url}: {exc.reason}") from exc
        except (HTTPException, OSError, ValueError) as exc:
            raise _TransferError(f"{url}: {type(exc).__name__}: {exc}") from exc
    if total is not None and done != total:
        raise _TransferError(f"{url}: connection closed after {done} of {total} bytes")


def _download_mnist(
    data_dir: Path, mirrors: tuple[str, ...], progress: ProgressCallback | None, timeout: float
) -> list[Path]:
    folder = mnist_dir(data_dir)
    _mkdir(folder)
    result: list[Path] = []
    for name in MNIST_FILES:
        existing = find_mnist_file(folder, name)
        if existing is not None and mnist_file_problem(existing, name) is None:
            result.append(existing)
            continue
        target = folder / f"{name}.gz"
        part = _part_path(target)
        failures: list[str] = []
        for base in mirrors:
            url = base.rstrip("/") + f"/{name}.gz"
            try:
                _fetch(url, part, target.name, progress, timeout)
                problem = mnist_file_problem(part, name, compressed=True)
                if problem is not None:
                    raise _TransferError(f"{url}: download failed verification: {problem}")
                os.replace(part, target)
            except _TransferError as exc:
                failures.append(str(exc))
                continue
            finally:
                part.unlink(missing_ok=True)
            remember_md5(target, MNIST_FILES[name][0])
            if existing is not None and existing != target:
                existing.unlink()  # a damaged uncompressed copy would shadow the new .gz
            result.append(target)
            break
        else:
            raise DataError(
                f"could not download MNIST file {target}: " + "; ".join(failures),
                hint=(Hint("say", f"to supply a local copy, put {name}.gz (or the uncompressed {name}) in {folder}"),
                      _OTHER_FOLDER),
            )
    return result


def _member_is_safe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return not (name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _link_is_safe(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """A symbolic link member stays inside the archive's folder (relative, no ``..``, not too long)."""
    if info.file_size > 4096:
        return False
    target = zf.read(info).decode("utf-8", "replace")
    return _member_is_safe(target) and not target.startswith("~")


def _extract_recordings(archive: Path, dest: Path, url: str) -> None:
    """Copy every ``*/recordings/*.wav`` member of ``archive`` into ``dest`` (flat)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            unsafe = [i.filename for i in infos
                      if not _member_is_safe(i.filename) or (_is_symlink(i) and not _link_is_safe(zf, i))]
            if unsafe:
                raise DataError(f"{url}: archive member {unsafe[0]!r} points outside the target folder; rejected")
            wanted = [
                i for i in infos
                if not i.is_dir() and not _is_symlink(i) and i.filename.split("/")[-2:-1] == ["recordings"]
                and i.filename.endswith(".wav")
            ]
            if sum(i.file_size for i in wanted) > MAX_BYTES:
                raise DataError(f"{url}: archive recordings exceed {MAX_BYTES} bytes; rejected")
            for info in wanted:
                with zf.open(info) as src, open(dest / info.filename.split("/")[-1], "xb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
    except FileExistsError as exc:
        raise DataError(f"{url}: archive holds the same recording twice ({exc.filename}); rejected") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DataError(f"{url}: downloaded archive is damaged ({exc})") from exc
    except OSError as exc:
        raise DataError(f"cannot extract the archive from {url} into {dest.parent} ({exc})") from exc


def _remove_stale_staging(parent: Path) -> None:
    """Remove the staging folders of downloads whose process was killed (named with its id)."""
    for p in parent.iterdir():
        m = re.fullmatch(r"\.recordings-(?:old-)?(\d+)-.+", p.name)
        if m is None or not p.is_dir() or p.is_symlink():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass  # alive, someone else's


def _swap_in(new: Path, final: Path) -> None:
    """Put folder ``new`` at ``final`` with renames, removing what was there before."""
    if not (final.exists() or final.is_symlink()):
        os.rename(new, final)
        return
    old = final.with_name(f".{final.name}-old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.rename(final, old)
    os.rename(new, final)
    if old.is_symlink() or not old.is_dir():
        old.unlink()
    else:
        shutil.rmtree(old)


def _download_fsdd(data_dir: Path, url: str, progress: ProgressCallback | None, timeout: float) -> list[Path]:
    recordings = fsdd_recordings_dir(data_dir)
    if recordings.is_dir() and fsdd_problem(recordings) is None:
        return [recordings]
    _mkdir(recordings.parent)
    _remove_stale_staging(recordings.parent)
    part = _part_path(recordings.parent / f"free-spoken-digit-dataset-{FSDD_TAG}.zip")
    try:
        try:
            _fetch(url, part, f"fsdd-{FSDD_TAG}.zip", progress, timeout)
        except _TransferError as exc:
            raise DataError(
                f"could not download the FSDD recordings for {recordings}: {exc}",
                hint=(Hint("say", f"to supply a local copy, put the {FSDD_FILE_COUNT} WAV files of FSDD {FSDD_TAG} "
                                  f"in {recordings}"), _OTHER_FOLDER),
            ) from exc
        staging = Path(tempfile.mkdtemp(prefix=f".recordings-{os.getpid()}-", dir=recordings.parent))
        try:
            _extract_recordings(part, staging, url)
            count, digest = fsdd_manifest(staging)
            if (count, digest) != (FSDD_FILE_COUNT, FSDD_MANIFEST_SHA256):
                raise DataError(
                    f"{url}: archive does not hold the FSDD {FSDD_TAG} recordings ({count} WAV files, "
                    f"expected {FSDD_FILE_COUNT}; manifest {'matches' if digest == FSDD_MANIFEST_SHA256 else 'differs'})"
                )
            _swap_in(staging, recordings)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        part.unlink(missing_ok=True)
    return [recordings]


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {folder} ({exc})", hint=_WRITABLE) from exc


def download(
    name: Literal["mnist", "fsdd", "all"],
    data_dir: str | Path,
    *,
    base_urls: dict[str, str] | None = None,
    progress: ProgressCallback | None = None,
    timeout: float = 60.0,
) -> list[Path]:
    """Download and verify a data set into ``data_dir``; return its files (FSDD: the folder).

    Data already present and verified is not fetched again. ``base_urls`` overrides the
    sources: ``"mnist"`` is a folder URL holding the four ``.gz`` files (replacing both
    mirrors), ``"fsdd"`` the URL of the release zip.
    """
    if name not in ("mnist", "fsdd", "all"):
        raise DataError(f"unknown data set {name!r}; choose mnist, fsdd or all")
    data_dir = Path(data_dir)
    urls = base_urls or {}
    result: list[Path] = []
    if name in ("mnist", "all"):
        mirrors = (urls["mnist"],) if "mnist" in urls else MNIST_MIRRORS
        result += _download_mnist(data_dir, mirrors, progress, timeout)
    if name in ("fsdd", "all"):
        result += _download_fsdd(data_dir, urls.get("fsdd", FSDD_URL), progress, timeout)
    return result
