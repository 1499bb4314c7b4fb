"""``snnapp train``: a recipe, the options given -> :class:`TrainConfig` -> :func:`snnapp.core.training.train`.

The options that set a training setting are not written here: each is built from the setting's
declaration in core (type, choices, help, range, see :mod:`snnapp.core.training._settings`), and
this module only lists which settings have an option of their own (:data:`FLAGS`). Every other
setting is given with ``--set NAME=VALUE``.
"""

from __future__ import annotations

import inspect
import shlex
import sys
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from ._common import DataDirOption, DeviceOption, fail, user_errors

#: The settings that have an option of their own (``--beta``), by the name the option takes.
FLAGS = ("epochs", "batch_size", "lr", "loss", "correct_rate", "incorrect_rate", "num_steps", "beta", "threshold",
         "slope", "neuron", "image_encoder", "audio_encoder", "image_channels", "image_kernel", "image_hidden",
         "pool_before_spike", "audio_hidden", "dropout", "dropout_mask", "augment", "precision", "audio_copies",
         "n_mfcc", "deltas", "feature_masks", "patience", "seed", "limit", "init_from")
#: The word for "off" of a flag, where ``--no-NAME`` would read badly.
OFF_NAMES = {"pool_before_spike": "--pool-after-spike"}


def _option(name: str) -> inspect.Parameter:
    """The option of setting ``name``, from its declaration."""
    from snnapp.core.training import lookup

    s = lookup(name, "train")
    flag = "--" + name.replace("_", "-")
    help_text = s.describe(default=False)  # the default is the recipe's
    decls: list[str] = []
    kind = s.kind
    if kind == "bool":
        decls = [f"{flag}/{OFF_NAMES.get(name, '--no-' + name.replace('_', '-'))}"]
        annotation: Any = bool
    elif s.choices:
        annotation = Literal[s.choices]
    elif kind == "list" and s.item is str:  # paths: the option is repeated
        annotation, help_text = list[Path], help_text + " Repeatable."
    elif kind in ("list", "table"):
        annotation = str  # "32,64"; parsed as the setting parses it
    else:
        annotation = {"int": int, "float": float}.get(kind, str)
    option = typer.Option(*decls, help=help_text, show_default=False)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[annotation], option])


def _overrides(given: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """The settings given on the command line: each option given, then each ``--set``."""
    from snnapp.core.training import lookup

    out: dict[str, Any] = {}
    for name in FLAGS:
        value = given.get(name)
        if value is None:
            continue
        s = lookup(name, "train")
        if s.kind == "list" and s.item is str:
            value = tuple(str(v) for v in value)
        elif s.kind in ("list", "table"):
            value = s.parse(value)
        out[s.name] = value
    for item in sets:
        name, eq, text = item.partition("=")
        if not eq or not name.strip():
            fail(f"--set {item!r}: expected NAME=VALUE, e.g. --set network.beta=0.8")
        s = lookup(name.strip(), "--set")
        out[s.name] = s.parse(text)
    return out


def train_command(
    *,
    mode: Annotated[Optional[str], typer.Option(
        help="Which network to train (image, audio or multimodal): its shipped recipe, unless --recipe names "
             "another.", show_default=False)] = None,
    recipe: Annotated[Optional[str], typer.Option(
        help="A shipped recipe (image, audio, multimodal) or a recipe .toml file; default: the one of --mode. "
             "Every option below overrides one of its settings.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Model folder to write (default: models/MODE).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Any setting, by name: NAME=VALUE (network.beta=0.8, audio.deltas=true, "
                      "image_channels=16,32); repeatable. `snnapp train --list-settings` lists them all.")] = None,
    show_config: Annotated[bool, typer.Option(
        "--show-config", help="Print the settings this command would train with, as a recipe file, and exit.")] = False,
    list_settings: Annotated[bool, typer.Option("--list-settings", help="List every setting with its help, range and default, and exit.")]
    = False,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint of --out.")] = False,
    device: DeviceOption = "auto",
    data_dir: DataDirOption = None,
    **given: Any,
) -> None:
    """Train a network on MNIST, FSDD or both, and save it as a model folder.

    Without options: the shipped recipe of --mode (image by default), the settings of the shipped model.

    Each option changes one setting of the recipe.
    """
    from snnapp.core.errors import ConfigError
    from snnapp.core.network import MODES
    from snnapp.core.training import load_recipe, recipe_text

    if list_settings:
        _print_settings()
        return
    with user_errors():
        if mode is not None and mode not in MODES:
            raise ConfigError(f"--mode: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        chosen = load_recipe(recipe if recipe is not None else (mode or "image"))
        if mode is not None and mode != chosen.mode:
            raise ConfigError(f"recipe {chosen.name} trains the {chosen.mode} network, not {mode}")
        cfg = chosen.config("the options given", **_overrides(given, set_ or []))
        if show_config:
            typer.echo(recipe_text(cfg, f"recipe {chosen.name}, with the options given"), nl=False)
            return
        _train(cfg, chosen.name, out, resume, device, data_dir)


def _train(cfg: Any, recipe: str, out: Path | None, resume: bool, device: str, data_dir: Path | None) -> None:
    from snnapp.core.data import resolve_cache_dir, resolve_data_dir
    from snnapp.core.modelio import claim_model_folder, shown
    from snnapp.core.training import train

    from ._progress import RichTrainingProgress

    target = claim_model_folder(out or Path("models") / cfg.mode)  # refused before the progress bar
    with RichTrainingProgress() as progress:
        result = train(cfg, target, resolve_data_dir(data_dir), device=device, resume=resume,
                       progress=progress, cache_dir=resolve_cache_dir(),
                       record={"recipe": recipe,
                               "command": "snnapp " + " ".join(shlex.quote(a) for a in sys.argv[1:])})
    val = result.metrics["val"]
    typer.echo(f"{shown(result.model_dir)}: validation accuracy {val['accuracy']:.4f}")


def _print_settings() -> None:
    from snnapp.core.training import settings, short_names

    short = {v: k for k, v in short_names().items()}
    for s in settings().values():
        flag = f"--{s.name.replace('_', '-')}" if s.name in FLAGS else f"--{short[s.name].replace('_', '-')}" \
            if short.get(s.name) in FLAGS else ""
        names = ", ".join(n for n in (s.name, short.get(s.name), flag) if n)
        typer.echo(f"{names}\n    {s.describe()}")


def _signature() -> None:
    """Give :func:`train_command` one keyword option per entry of :data:`FLAGS` (Typer reads a
    command's options from its signature and annotations)."""
    sig = inspect.signature(train_command)
    hints = typing.get_type_hints(train_command, include_extras=True)
    fixed = [p.replace(annotation=hints[p.name]) for p in sig.parameters.values()
             if p.kind is not inspect.Parameter.VAR_KEYWORD]
    options = [_option(name) for name in FLAGS]
    train_command.__signature__ = sig.replace(parameters=fixed + options)  # type: ignore[attr-defined]
    train_command.__annotations__ = {p.name: p.annotation for p in fixed + options}


_signature()
