"""``snnapp tune`` (run or resume a study) and ``snnapp tune report``: options -> :mod:`snnapp.tuning`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import DataDirOption, DeviceOption, user_errors

tune_app = typer.Typer(help="Search the training hyper-parameters with Optuna; `tune report` tabulates studies.",
                       invoke_without_command=True, no_args_is_help=False)

StorageOption = Annotated[str | None, typer.Option(
    "--storage", envvar="SNNAPP_TUNE_STORAGE", show_default=False,
    help="sqlite:///FILE.db, postgresql+psycopg2://USER:PW@HOST/DB, journal:FILE.log "
         "(default: studies.db in the user data folder).")]


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def _grid(items: list[str]) -> dict[str, list[Any]]:
    from snnapp.core.errors import ConfigError

    out: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not values.strip():
            raise ConfigError(f"--grid expects NAME=v1,v2,..., got {item!r}")
        out[name.strip()] = [_value(v) for v in values.split(",") if v.strip()]
    return out


def _on_trial(console: Any) -> Any:
    from optuna.trial import TrialState
    from rich.markup import escape

    def show(study: Any, t: Any) -> None:
        params = escape(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items()))
        secs = t.user_attrs.get("train_time_s", 0.0)
        if t.user_attrs.get("surplus"):
            console.print(f"trial {t.number:3d} not run: another worker started the study's last trial first")
        elif t.state == TrialState.COMPLETE:
            vals = "  ".join(f"{v:.4g}" for v in t.values)
            console.print(f"trial {t.number:3d} [green]done[/green]    {vals}  {params}  ({secs:.1f} s)")
        elif t.state == TrialState.PRUNED:
            why = "infeasible" if t.user_attrs.get("infeasible") else f"pruned after epoch {t.user_attrs.get('epochs_run')}"
            console.print(f"trial {t.number:3d} [yellow]{why}[/yellow]  {params}  ({secs:.1f} s)")
        else:
            console.print(f"trial {t.number:3d} [red]{t.state.name.lower()}[/red]  {params}")

    return show


@tune_app.callback()
def tune_command(
    ctx: typer.Context,
    mode: Annotated[str, typer.Option(help="image, audio or multimodal.")] = "image",
    method: Annotated[str, typer.Option(help="grid, random, bayes or cmaes.")] = "bayes",
    sampler: Annotated[str | None, typer.Option(help="For bayes: tpe (default) or gp.")] = None,
    trials: Annotated[int | None, typer.Option(min=1, help="Finished trials the study should have in all "
                                                  "(default: the whole grid, or 20).")] = None,
    timeout: Annotated[float | None, typer.Option(min=1, help="Stop starting trials after S seconds.")] = None,
    storage: StorageOption = None,
    study: Annotated[str | None, typer.Option(help="Study name (default: MODE-METHOD); reused to resume.")] = None,
    space: Annotated[Path | None, typer.Option(help="Search space file (.toml, .yaml).")] = None,
    grid: Annotated[list[str] | None, typer.Option(help="Grid values NAME=v1,v2,...; repeatable.")] = None,
    also: Annotated[str, typer.Option(help="Add to the default space: beta,threshold,num_steps,hidden,encoder.")] = "",
    epochs_per_trial: Annotated[int, typer.Option(min=1)] = 3,
    train_fraction: Annotated[float, typer.Option(help="Share of the training data each trial uses.")] = 1.0,
    limit: Annotated[int | None, typer.Option(min=1, help="First N training and validation examples only.")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    pruner: Annotated[str | None, typer.Option(help="median, hyperband or none (default: none for grid, "
                                                  "else median).")] = None,
    objectives: Annotated[str, typer.Option(help="accuracy, accuracy,spikes or accuracy,synops.")] = "accuracy",
    out: Annotated[Path | None, typer.Option(help="Folder of the trial models (default: user data folder).")] = None,
    test: Annotated[bool, typer.Option(help="Evaluate the best model once on the test set.")] = True,
    heartbeat: Annotated[int, typer.Option(min=1, help="Seconds between a running trial's heartbeats.")] = 10,
    grace: Annotated[int, typer.Option(min=1, help="Seconds without a heartbeat after which a running trial "
                                                    "counts as dead (its worker killed): failed and retried once.")] = 30,
    storage_wait: Annotated[float, typer.Option(min=0, help="Seconds to keep retrying a storage that stops "
                                                           "answering during the run before giving up.")] = 120,
    device: DeviceOption = "auto",
    data_dir: DataDirOption = None,
) -> None:
    """Run or resume a study: each trial trains a network and scores it on validation data."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.markup import escape

    from snnapp.core.data import resolve_cache_dir, resolve_data_dir
    from snnapp.core.errors import ConfigError
    from snnapp.core.modelio import shown
    from snnapp.core.network import MODES
    from snnapp.tuning import (
        StudyInterrupted,
        TuneSettings,
        base_config,
        check_trial_configs,
        default_space,
        get_method,
        load_space,
        run_study,
    )

    console = Console()
    with user_errors():
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        get_method(method, sampler)
        extra = [a.strip() for a in also.split(",") if a.strip()]
        the_space = load_space(space) if space else default_space(mode, extra)
        if grid:
            the_space = the_space.with_grid(_grid(grid))
        if space:  # a trial's whole configuration, before the first trial: named after the file
            check_trial_configs(base_config(mode, epochs_per_trial, seed), the_space, shown(space))
        settings = TuneSettings(
            mode=mode, method=method, sampler=sampler, space=the_space, epochs_per_trial=epochs_per_trial,
            train_fraction=train_fraction, limit=limit, seed=seed,
            objectives=tuple(o.strip() for o in objectives.split(",") if o.strip()), trials=trials, timeout=timeout,
            pruner=pruner, storage=storage, study=study, out=out, device=device, heartbeat_s=heartbeat,
            grace_s=grace, storage_wait_s=storage_wait, test=test)
        console.print(f"study [bold]{escape(shown(settings.study_name))}[/bold]: {mode}, {method}"
                      f"{f' ({sampler})' if sampler else ''}, searching {', '.join(the_space.names)}")
        try:
            res = run_study(settings, resolve_data_dir(data_dir), cache_dir=resolve_cache_dir(),
                            on_trial=_on_trial(console))
        except StudyInterrupted as stop:
            again = f"; trial {stop.retry} runs again, from its last checkpoint, when the same command is run" \
                if stop.retry is not None else ""
            Console(stderr=True, soft_wrap=True).print(f"[red]error: interrupted{escape(again)}[/red]")
            raise typer.Exit(130) from None
    console.print(f"{res.finished} finished trials in {escape(shown(res.study))} ({escape(shown(res.storage))})")
    if res.best:
        vals = ", ".join(f"{v:.4f}" for v in res.best["values"])
        console.print(f"best trial {res.best['trial']}: validation {vals}  {escape(str(res.best['params']))}")
    if res.test_accuracy is not None:
        console.print(f"test accuracy of the best model: [bold]{100 * res.test_accuracy:.2f} %[/bold]")
    if res.best_model_dir:
        console.print(f"best model: {escape(shown(res.best_model_dir))}")
    elif res.best_model_elsewhere:
        console.print(f"best model: {escape(shown(res.best_model_elsewhere))} (trained there by another worker, which keeps "
                      "and tests it; copy the folder from there)")


@tune_app.command("report")
def report_command(
    studies: Annotated[list[str] | None, typer.Argument(help="Study names (default: all in the storage).")] = None,
    storage: StorageOption = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV here.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Also write the Markdown here.")] = None,
    plots: Annotated[Path | None, typer.Option(help="Write PNG plots of every study into this folder.")] = None,
) -> None:
    """Print the table of studies: best settings, validation and test accuracy, trials, compute."""
    from snnapp.tuning import (
        load_studies,
        open_storage,
        summarize,
        to_markdown,
        write_csv,
        write_markdown,
        write_plots,
    )

    with user_errors():
        loaded = load_studies(open_storage(storage, create=False), list(studies or []))
        rows = [summarize(s) for s in loaded]
        text = to_markdown(rows)
        if csv:
            write_csv(rows, csv)  # its folder created; only a report written before is replaced
        if markdown:
            write_markdown(rows, markdown)
        written, skipped = [], []
        for s in loaded if plots else []:
            w, k = write_plots(s, plots)  # type: ignore[arg-type]
            written += w
            skipped += k
    typer.echo(text, nl=False)
    from snnapp.core.modelio import shown

    for path in written:
        typer.echo(f"wrote {shown(path)}", err=True)
    for reason in skipped:
        typer.echo(f"skipped plot {shown(reason)}", err=True)
