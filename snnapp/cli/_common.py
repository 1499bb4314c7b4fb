"""What every sub-command shares: common options and the one-line error for user mistakes."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Iterator, NoReturn, Optional

import typer

DataDirOption = Annotated[
    Optional[Path],
    typer.Option("--data-dir", envvar="SNNAPP_DATA_DIR", show_default=False,
                 help="Folder holding mnist/ and fsdd/recordings/ (default: the user cache folder)."),
]
DeviceOption = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]


def fail(message: str) -> NoReturn:
    """Print ``error: message`` in red on stderr, no traceback, and exit with status 1."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[red]error: {escape(message)}[/red]")
    raise typer.Exit(1)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the project's own errors (bad input, missing data, damaged models) into one line."""
    from snnapp.core.errors import SnnappError

    try:
        yield
    except SnnappError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")
