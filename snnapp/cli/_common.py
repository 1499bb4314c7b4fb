"""What every sub-command shares: common options and the one-line error for user mistakes."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Iterator, NoReturn, Optional

import typer

from snnapp.core.errors import Hint, SnnappError, plain

DataDirOption = Annotated[
    Optional[Path],
    typer.Option("--data-dir", envvar="SNNAPP_DATA_DIR", show_default=False,
                 help="Folder holding mnist/ and fsdd/recordings/ (default: the user cache folder)."),
]
DeviceOption = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]


#: Exit status of a command that refused or could not do what it was asked, said in one line
#: (bad input, a destination that is not the project's, missing data, a full disk). A
#: traceback (status 1) is always a bug; an interrupt exits with 130, as shells expect.
EXIT_ERROR = 2
#: A pipe whose reader went away (``snnapp listen | head -3``): quiet, as for a process SIGPIPE killed.
EXIT_READER_GONE = 128 + 13


class OutputError(SnnappError):
    """Standard output cannot take what the command prints: closed, or a full disk."""


class ReaderGone(OutputError):
    """Standard output is a pipe whose reader went away: nothing more is wanted."""


#: Each kind of remedy (:class:`~snnapp.core.errors.Hint`) said as the command's options; a kind not
#: here is said in the core's plain words.
_AS_OPTIONS = {
    "device": lambda v: f"use --device {v}",
    "backend": lambda v: f"use --backend {v}",
    "export": lambda v: f"run `snnapp export {v}`",
    "model": lambda v: "pass --model DIR",
    "data_dir": lambda v: f"set --data-dir (or SNNAPP_DATA_DIR) to {v}",
    "download": lambda v: f"run `snnapp data download {v}`",
    "resume": lambda v: "train without --resume",
    "out": lambda v: "use another --out",
    "audio_file": lambda v: "replay a file with --audio-file",
    "mic": lambda v: "pass --device with an index or a name",
    "study": lambda v: "choose another --study name",
    "grid": lambda v: f"give --grid {v}",
    "sampler": lambda v: "leave out --sampler",
    "objectives": lambda v: f"use --method {v} with --objectives",
}


def as_options(hint: Hint) -> str:
    """``hint`` said as the command line's options (``use --device cpu``)."""
    say = _AS_OPTIONS.get(hint.kind)
    return say(hint.value) if say is not None else plain(hint)


def one_line(exc: BaseException) -> str:
    """The one line for ``exc``: what went wrong, and the remedy as the command's options."""
    return exc.render(as_options) if isinstance(exc, SnnappError) else str(exc)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` in red on stderr, no traceback, and exit with :data:`EXIT_ERROR`."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[red]error: {escape(message)}[/red]")
    raise typer.Exit(EXIT_ERROR)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the project's own errors (bad input, missing data, damaged models) into one line."""
    try:
        yield
    except ReaderGone:
        raise typer.Exit(EXIT_READER_GONE) from None
    except SnnappError as exc:
        fail(one_line(exc))
    except KeyboardInterrupt:
        from rich.console import Console

        Console(stderr=True, soft_wrap=True).print("[red]error: interrupted[/red]")
        raise typer.Exit(130) from None
