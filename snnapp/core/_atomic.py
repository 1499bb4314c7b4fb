"""The project's rules of the file system: what it may replace, and how it writes so that nothing
half written ever looks complete.

**Only its own.** Every destination a user names goes through :func:`claim_folder` or
:func:`claim_file` before anything is written: a path that does not exist, an empty folder, or
something the caller's recogniser says the project wrote (a verified model folder, a file bearing
the project's signature) may be replaced; anything else is refused with a :class:`PathError`
naming it. A link is followed, so its target is what is judged and replaced and the link stays.

**Atomic.** Files go to a hidden temporary name beside their destination (named with the writer's
process id, so what a killed writer left is recognised and removed), are fsynced, and are renamed
into place; folders are swapped in whole, in one step where Linux can. File-system failures
become a :class:`DiskError` that says in plain words what went wrong where ("no space left on ...").
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from snnapp.core.errors import ModelError, PathError


class DiskError(ModelError, OSError):
    """Writing a model folder or a checkpoint failed in the file system: full disk, no permission, I/O.

    Also an ``OSError`` (with its ``errno``), so callers that handle file-system errors still do.
    """

    reason: str = ""  # the plain words of the message: "no space left on ..."


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
        with contextlib.suppress(OSError):  # on a read-only file system the cleanup fails too
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


def replace_folder(tmp: Path, dest: Path, ours: Callable[[Path], bool], what: str = "model folder") -> None:
    """Swap a completely written folder ``tmp`` in at ``dest``; the old one is removed after.

    ``dest`` is claimed first (:func:`claim_folder` with ``ours``): a folder the project did not
    write is refused, and ``tmp`` is left for the caller to remove. A link at ``dest`` is followed.
    Where the system can swap two folders in one step, ``dest`` is never absent, even for a
    process killed half-way; elsewhere there is a moment between two renames.
    """
    dest = claim_folder(dest, ours, what)
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


# --- what the project may replace -------------------------------------------------------------

def shown(path: Path | str) -> str:
    """``path`` for a one-line message or a line of output: bytes that are not UTF-8 as ``\\xNN``
    and control characters escaped, so that no file name can split or garble the line."""
    out = []
    for c in os.fsdecode(path):
        if 0xDC80 <= ord(c) <= 0xDCFF:  # an undecodable byte, as os.fsdecode keeps it
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif not c.isprintable():
            out.append(c.encode("unicode_escape").decode("ascii"))
        else:
            out.append(c)
    return "".join(out)


def destination(path: str | Path) -> Path:
    """The absolute path ``path`` names as a place to write: a link is followed to its target.

    Refused with :class:`PathError`: a link to nothing, a link loop, and the current folder or a
    folder above it (``.``, ``..``), which a write would have to replace with the process in it.
    """
    given = Path(path)
    if given.is_symlink():
        try:
            target = given.resolve(strict=True)
        except FileNotFoundError:
            raise PathError(f"{shown(given)}: a link to {shown(os.readlink(given))}, which does not exist; "
                            "refusing to write through it") from None
        except (OSError, RuntimeError):
            raise PathError(f"{shown(given)}: a link that cannot be followed (a loop?)") from None
    else:
        target = Path(os.path.abspath(given))
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        cwd = None
    if cwd is not None and (target.resolve() == cwd or target.resolve() in cwd.parents):
        raise PathError(f"{shown(path)}: the current folder or one above it; name a new folder to write into")
    if not target.name:
        raise PathError(f"{shown(path)}: the root folder; name a new folder to write into")
    return target


def examine(path: Path, given: str | Path | None = None, follow: bool = False) -> os.stat_result | None:
    """The status of ``path`` (of a link's target where ``follow``); None where nothing is there.
    :class:`PathError` naming ``given`` (or ``path``) where it cannot be examined."""
    try:
        return path.stat() if follow else path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PathError(f"{shown(path if given is None else given)}: cannot be examined ({exc.strerror or exc})") from None


def claim_folder(path: str | Path, ours: Callable[[Path], bool], what: str) -> Path:
    """The folder ``path`` may be replaced: return its :func:`destination`, or raise :class:`PathError`.

    It may where nothing is there yet, where it is an empty folder, or where ``ours(folder)`` says
    the project wrote it (e.g. a verified model folder). A file, a pipe or a folder with anything
    else in it is the user's, and is refused with one line naming it.
    """
    dest = destination(path)
    st = examine(dest, path)
    if st is None:
        return dest
    if not stat.S_ISDIR(st.st_mode):
        raise PathError(f"{shown(path)}: exists and is not a folder; refusing to replace it with a {what}")
    try:
        empty = not any(p for p in dest.iterdir() if not _stale_entry(p))
    except OSError as exc:
        raise PathError(f"{shown(path)}: cannot be listed ({exc.strerror or exc})") from None
    if empty or ours(dest):
        return dest
    raise PathError(f"{shown(path)}: holds files that are not an snnapp {what}; refusing to replace it "
                    "(choose another folder, or move it away first)")


#: Largest file :func:`claim_file` searches for the writer's signature (exports are a few MB).
_SIGNATURE_SPAN = 1 << 28


def claim_file(path: str | Path, signature: bytes | None, what: str) -> Path:
    """The file ``path`` may be replaced: return its :func:`destination`, or raise :class:`PathError`.

    It may where nothing is there yet, or where it is a regular file that holds ``signature``
    (a mark every file of this kind the project writes carries). A folder, a pipe, a device or a
    file without the mark is refused with one line naming it.
    """
    dest = destination(path)
    st = examine(dest, path, follow=True)
    if st is None:
        return dest
    if stat.S_ISDIR(st.st_mode):
        raise PathError(f"{shown(path)}: is a folder; name a file to write the {what} to")
    if not stat.S_ISREG(st.st_mode):
        raise PathError(f"{shown(path)}: not a regular file (a pipe or a device); name a file to write the {what} to")
    if signature is not None and st.st_size <= _SIGNATURE_SPAN and _bears(dest, signature):
        return dest
    raise PathError(f"{shown(path)}: exists and was not written by snnapp as a {what}; refusing to replace it "
                    "(choose another name, or move it away first)")


def _bears(path: Path, signature: bytes) -> bool:
    """``signature`` occurs in the file (read in chunks that overlap by its length)."""
    tail = b""
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                if signature in tail + chunk:
                    return True
                tail = chunk[-len(signature):]
    except OSError:
        return False
    return False


def _stale_entry(p: Path) -> bool:
    """An entry a killed writer of the project left (``.name.tmp-PID-...``): not the user's."""
    name = p.name
    for kind in (".tmp-", ".old-"):
        head, sep, tail = name.partition(kind)
        if sep and head.startswith(".") and tail.split("-")[0].isdigit():
            return True
    return False


def write_claimed(path: str | Path, data: bytes | memoryview, signature: bytes | None, what: str) -> Path:
    """Write a file a user named (an export, a report) atomically, creating its folder: the
    destination is claimed first (:func:`claim_file`), so only the project's own file is replaced."""
    dest = claim_file(path, signature, what)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_error(dest, exc) from exc
    write_file(dest, data)
    return dest
