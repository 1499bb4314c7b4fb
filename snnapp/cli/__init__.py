"""The ``snnapp`` command. Each sub-command is a thin call into the packages, imported lazily
so that ``snnapp --help`` and the edge install do not pay for torch."""

from __future__ import annotations

import typer

from ._app import app_command
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


def main() -> None:
    app()
