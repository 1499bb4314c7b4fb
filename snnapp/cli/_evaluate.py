"""``snnapp evaluate``: the metrics of a model folder on the validation or test split."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ._common import DataDirOption, DeviceOption, user_errors


class SplitName(str, Enum):
    val = "val"
    test = "test"


def evaluate_command(
    model_dir: Annotated[Path, typer.Argument(help="Model folder.")],
    split: Annotated[SplitName, typer.Option(help="val (model selection) or test (final report).")] = SplitName.test,
    as_json: Annotated[bool, typer.Option("--json", help="Print all metrics as one JSON object.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate on the first N examples only.")] = None,
    device: DeviceOption = "auto",
    data_dir: DataDirOption = None,
) -> None:
    """Accuracy, per class and per speaker, confusion matrix, spikes, SynOps and energy per sample."""
    from snnapp.core.data import resolve_cache_dir, resolve_data_dir
    from snnapp.core.evaluation import evaluate_model

    with user_errors():
        res = evaluate_model(model_dir, split.value, resolve_data_dir(data_dir), device=device,
                             cache_dir=resolve_cache_dir(), limit=limit)
    if as_json:
        typer.echo(json.dumps(res))
        return
    from ._report import print_evaluation

    print_evaluation(res)
