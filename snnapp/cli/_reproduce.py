"""``snnapp reproduce``: options -> :func:`snnapp.tuning.run_reproduce`, tables to a file and the screen."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import DataDirOption, DeviceOption, user_errors


def reproduce_command(
    budget: Annotated[str, typer.Option(help="quick (minutes on 2 cores), paper or full.")] = "quick",
    repeats: Annotated[int, typer.Option(min=1, help="Seeds per network and method (mean ± spread).")] = 1,
    modes: Annotated[str, typer.Option(help="Networks to compare.")] = "image,audio,multimodal",
    methods: Annotated[str, typer.Option(help="Methods to compare.")] = "grid,random,bayes",
    out: Annotated[Path, typer.Option(help="Folder for the studies, trial models and TABLES.md.")] = Path("reproduce"),
    storage: Annotated[str | None, typer.Option(help="Storage URL (default: OUT/studies.db).")] = None,
    device: DeviceOption = "auto",
    data_dir: DataDirOption = None,
) -> None:
    """Grid vs random vs Bayesian search per network at equal budget: the paper's Tables I and II."""
    from rich.console import Console

    from snnapp.core.data import resolve_cache_dir, resolve_data_dir
    from snnapp.core.errors import ConfigError
    from snnapp.core.modelio import claim_file
    from snnapp.tuning import BUDGETS, TABLES_MARK, claim_reproduce_folder, run_reproduce, tables, write_tables

    console = Console(stderr=True)
    with user_errors():
        if budget not in BUDGETS:
            raise ConfigError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
        chosen = BUDGETS[budget]
        # refused before any study runs: a folder of another run or of the user's, a user's TABLES.md
        out = claim_reproduce_folder(out, storage)
        claim_file(out / "TABLES.md", TABLES_MARK.encode(), "table file")
        rows = run_reproduce(chosen, resolve_data_dir(data_dir), out, repeats=repeats,
                             modes=tuple(m.strip() for m in modes.split(",") if m.strip()),
                             methods=tuple(m.strip() for m in methods.split(",") if m.strip()), storage=storage,
                             device=device, cache_dir=resolve_cache_dir(),
                             on_study=lambda name: console.print(f"study {name}"))
        text = tables(rows, chosen, repeats)
        write_tables(out / "TABLES.md", text)  # only a TABLES.md written before is replaced
    typer.echo(text)
    console.print(f"wrote {out / 'TABLES.md'}")
