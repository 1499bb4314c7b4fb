"""``snnapp data``: show whether the data sets are present and intact, and download them."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from ._common import DataDirOption, fail, one_line

data_app = typer.Typer(
    help="Check and download the data sets (MNIST handwritten digits, FSDD spoken digits).",
    no_args_is_help=True,
)


class DatasetName(str, Enum):
    mnist = "mnist"
    fsdd = "fsdd"
    all = "all"


@data_app.command("status")
def status_command(data_dir: DataDirOption = None) -> None:
    """Show, for each data set, whether it is present and verified against its checksums."""
    from rich.console import Console
    from rich.table import Table

    from snnapp.core.data import resolve_data_dir, status
    from snnapp.core.errors import SnnappError

    folder = resolve_data_dir(data_dir)
    try:
        rows = status(folder)
    except SnnappError as exc:
        fail(one_line(exc))
    table = Table(title=f"data sets in {folder}")
    for column in ("data set", "present", "verified", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.name,
            "[green]yes[/green]" if row.present else "[red]no[/red]",
            "[green]yes[/green]" if row.verified else "[red]no[/red]",
            row.detail,
        )
    Console().print(table)


@data_app.command("download")
def download_command(
    name: Annotated[DatasetName, typer.Argument(help="Which data set to fetch.")] = DatasetName.all,
    data_dir: DataDirOption = None,
) -> None:
    """Download a data set and verify it; data already present and verified is kept."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn

    from snnapp.core.data import download, resolve_data_dir
    from snnapp.core.errors import SnnappError

    folder = resolve_data_dir(data_dir)
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    bar = Progress(*columns, console=console)
    tasks: dict[str, TaskID] = {}

    def progress(label: str, done: int, total: int | None) -> None:
        if not tasks:
            bar.start()  # only once a transfer begins, so errors and no-ops print nothing else
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done, total=total)

    try:
        try:
            paths = download(name.value, folder, progress=progress)
        finally:
            if tasks:
                bar.stop()
    except SnnappError as exc:
        fail(one_line(exc))
    out = Console()
    for path in paths:
        out.print(f"[green]ok[/green] {path}", soft_wrap=True)
