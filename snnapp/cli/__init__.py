"""The ``snnapp`` command. Each sub-command is a thin call into the packages, imported lazily
so that ``snnapp --help`` and the edge install do not pay for torch."""

from __future__ import annotations

import errno
import os
import sys
from typing import Any, NoReturn

import typer

from ._app import app_command
from ._common import EXIT_READER_GONE, OutputError, ReaderGone
from ._data import data_app
from ._evaluate import evaluate_command
from ._export import export_command
from ._listen import listen_command
from ._predict import predict_command
from ._reproduce import reproduce_command
from ._train import train_command
from ._tune import tune_app

app = typer.Typer(
    name="snnapp",
    help="A spiking neural network that recognises spoken and handwritten digits, alone or fused.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_app, name="data")
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("predict")(predict_command)
app.add_typer(tune_app, name="tune")
app.command("reproduce")(reproduce_command)
app.command("export")(export_command)
app.command("listen")(listen_command)
app.command("app")(app_command)


_CLOSED = ("standard output is closed: the results would go nowhere "
           "(redirect it to a file, or to /dev/null to discard them)")


def require_stdout() -> None:
    """Refuse to start a command whose results would go nowhere: standard output closed (``>&-``)
    or open only for reading. A full disk or a reader that goes away shows at the first write."""
    stream = sys.stdout
    if stream is None:  # Python's stdout where file descriptor 1 was closed at start
        raise OutputError(_CLOSED)
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a caller's buffer): it takes anything
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: the first write tells
        return
    try:
        mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    except OSError:
        raise OutputError(_CLOSED) from None
    if mode == os.O_RDONLY:
        raise OutputError("standard output is open only for reading: the results cannot be printed")


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EPIPE:
        return "nobody reads it any more (a broken pipe)"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device it goes to"
    if exc.errno == errno.EDQUOT:
        return "disk quota exceeded on the device it goes to"
    if exc.errno == errno.EBADF:
        return "it is not open for writing"
    return exc.strerror or str(exc) or type(exc).__name__


class _CheckedStdout:
    """``sys.stdout`` whose failed write or flush raises :class:`OutputError`.

    After a failure file descriptor 1 is pointed at ``/dev/null`` and nothing more is written: a
    later write raises again (so a caller that swallowed the first cannot lose output silently),
    while a flush does nothing, so that exiting does not report the failure a second time.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._error: OutputError | None = None

    def _failed(self, exc: OSError) -> NoReturn:
        kind = ReaderGone if exc.errno == errno.EPIPE else OutputError
        self._error = kind(f"cannot write to standard output: {_reason(exc)}")
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, self._stream.fileno())
            finally:
                os.close(null)
        except (OSError, ValueError, AttributeError):
            pass
        raise self._error from None

    def write(self, text: Any) -> int:
        if isinstance(text, str) and not text:
            return 0  # a probe (click's); it would make the stream flush
        if self._error is not None:
            raise type(self._error)(str(self._error))
        try:
            return self._stream.write(text)
        except OSError as exc:
            self._failed(exc)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._error is not None:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            self._failed(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _error_line(message: str) -> NoReturn:
    from ._common import fail

    try:
        fail(message)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None


def main() -> None:
    """The ``snnapp`` command. Output that cannot be written (stdout closed, a full disk), at a
    write or at the flush on exit, ends the command with one line on stderr and exit status 2,
    like any other error the user can act on. A pipe whose reader went away (``| head``) ends it
    quietly with the status a shell gives a process killed by SIGPIPE."""
    if sys.stdout is not None and not isinstance(sys.stdout, _CheckedStdout):
        sys.stdout = _CheckedStdout(sys.stdout)
    try:
        try:
            app()  # standalone: always ends in SystemExit
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()
    except ReaderGone:
        raise SystemExit(EXIT_READER_GONE) from None
    except OutputError as exc:  # outside a command's own error handling (e.g. printing after the work)
        _error_line(str(exc))
