"""Atomic writes for model folders, checkpoints and exports: nothing half written ever looks complete.

Files go to a hidden temporary name beside their destination (named with the writer's process id,
so what a killed writer left is recognised and removed), are fsynced, and are renamed into place;
folders are swapped in whole, in one step where Linux can. File-system failures become a
:class:`DiskError` that says in plain words what went wrong where ("no space left on ...").
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import sys
from pathlib import Path

from snnapp.core.errors import ModelError


class DiskError(ModelError, OSError):
    """Writing a model folder or a checkpoint failed in the file system: full disk, no permission, I/O.

    Also an ``OSError`` (with its ``errno``), so callers that handle file-system errors still do.
    """


_REASONS = {errno.ENOSPC: "no space left on {}", errno.EDQUOT: "disk quota exceeded on {}",
            errno.EACCES: "permission denied in {}", errno.EPERM: "permission denied in {}",
            errno.EROFS: "{} is on a read-only file system"}


def disk_error(what: Path, exc: OSError, note: str = "") -> DiskError:
    """The :class:`DiskError` for ``exc``, raised while writing ``what`` (or a file in it), in plain words."""
    template = _REASONS.get(exc.errno or 0)
    reason = template.format(Path(what).parent) if template else \
        getattr(exc, "reason", None) or exc.strerror or str(exc) or type(exc).__name__
    err = DiskError(f"cannot write {what}: {reason}{note}")
    err.errno, err.reason = exc.errno, reason
    return err


def is_temporary(name: str) -> bool:
    """Names of files being written (hidden, or ``*.part``): never listed in a manifest, never copied."""
    return name.startswith(".") or name.endswith(".part")


def _temp_name(dest: Path, kind: str = "tmp") -> str:
    """``.<name>.<kind>-<pid>-<random>`` beside ``dest``: hidden, and owned by a process that may be gone."""
    return f".{dest.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_stale(parent: Path, name: str) -> None:
    """Remove what writers of ``parent / name`` that were killed left behind (their process is gone)."""
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return
    prefixes = (f".{name}.tmp-", f".{name}.old-", f"{name}.part-")
    for p in entries:
        prefix = next((x for x in prefixes if p.name.startswith(x)), None)
        pid = p.name[len(prefix):].split("-")[0] if prefix else ""
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_new(path: Path, data: bytes | memoryview) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_file(path: str | Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, fsync, rename.

    On failure the temporary file is removed, ``path`` is unchanged and a :class:`DiskError`
    (for file-system errors) names the path and the reason.
    """
    path = Path(path)
    tmp = path.with_name(_temp_name(path))
    try:
        _write_new(tmp, data)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise disk_error(path, exc) from exc
        raise
    _fsync_dir(path.parent)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2``); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def replace_folder(tmp: Path, dest: Path) -> None:
    """Swap a completely written folder ``tmp`` in at ``dest``; the old one is removed after.

    Where the system can swap two folders in one step, ``dest`` is never absent, even for a
    process killed half-way; elsewhere there is a moment between two renames.
    """
    if dest.is_dir() and not dest.is_symlink() and _exchange(tmp, dest):
        shutil.rmtree(tmp, ignore_errors=True)  # now the old folder
    else:
        old = None
        if dest.exists() or dest.is_symlink():
            old = dest.with_name(_temp_name(dest, "old"))
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(dest.parent)


def _make_temp_folder(dest: Path) -> Path:
    """An empty folder beside ``dest`` (after removing what killed writers left there)."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(dest.parent, dest.name)
        tmp = dest.with_name(_temp_name(dest))
        tmp.mkdir()
    except OSError as exc:
        raise disk_error(dest, exc) from exc
    return tmp
