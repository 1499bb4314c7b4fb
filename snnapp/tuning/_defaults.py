"""The default search space per mode, space files (TOML or YAML), and trial values -> TrainConfig.

The default searches what the paper tunes: the learning rate and the two target firing rates of
the spike-count loss. Beta, threshold, time steps, hidden width and encoder have default ranges
and can be added by name; a space file may search or fix any training setting.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from snnapp.core._atomic import shown
from snnapp.core.errors import ConfigError
from snnapp.core.training import TrainConfig, load_recipe, with_settings

from ._space import STUDY_SETTINGS, Param, SearchSpace, feasible, value_kind

PAPER_PARAMS = ("lr", "correct_rate", "incorrect_rate")
OPTIONAL_PARAMS = ("beta", "threshold", "num_steps", "hidden", "encoder")

#: Largest space file read (a space file is a few hundred bytes; a grid of 1,000 values a few kB).
MAX_SPACE_BYTES = 1 << 20


def _param(name: str, mode: str) -> Param:
    if name == "lr":
        return Param("lr", "float", 1e-4, 2e-2, log=True, grid=(1e-3, 3e-3, 1e-2))
    if name == "correct_rate":
        return Param("correct_rate", "float", 0.5, 1.0, grid=(0.6, 0.8, 1.0))
    if name == "incorrect_rate":
        return Param("incorrect_rate", "float", 0.0, 0.5, grid=(0.0, 0.2, 0.4))
    if name == "beta":
        return Param("beta", "float", 0.5, 0.99, grid=(0.8, 0.9, 0.95))
    if name == "threshold":
        return Param("threshold", "float", 0.5, 2.0, grid=(0.5, 1.0, 1.5))
    if name == "num_steps":
        steps = (8, 16, 32) if mode == "audio" else (2, 4, 8)
        return Param("num_steps", "categorical", choices=steps, grid=steps)
    if name == "hidden":
        return Param("hidden", "categorical", choices=(128, 256, 512), grid=(128, 256, 512))
    if name == "encoder":
        kinds = ("direct", "rate", "delta") if mode == "audio" else ("direct", "rate", "latency", "delta")
        return Param("encoder", "categorical", choices=kinds, grid=kinds)
    raise ConfigError(f"no default range for {name!r}; optional parameters are {', '.join(OPTIONAL_PARAMS)}")


def default_space(mode: str, extra: Iterable[str] = ()) -> SearchSpace:
    """The paper's three parameters, plus any of :data:`OPTIONAL_PARAMS` named in ``extra``."""
    names = list(PAPER_PARAMS) + [n for n in extra if n not in PAPER_PARAMS]
    return SearchSpace(tuple(_param(n, mode) for n in names))


def load_space(path: Path) -> SearchSpace:
    """Read a space file: ``[params.NAME]`` tables (low/high/log/grid or choices) and ``[fixed]``."""
    try:
        text = _read_space_file(Path(path)).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown(path)}: not UTF-8 text (byte {exc.start}); save the space file as UTF-8") from None
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{shown(path)}: a space file ends in .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(f"{shown(path)}: not valid {suffix[1:].upper()}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{shown(path)}: nested too deeply to be a space file") from None
    except Exception as exc:  # yaml.YAMLError, without importing yaml for TOML users
        if type(exc).__module__.startswith("yaml"):
            raise ConfigError(f"{shown(path)}: not valid YAML: {str(exc).splitlines()[0]}") from None
        raise
    if not isinstance(data, dict):
        raise ConfigError(f"{shown(path)}: expected a table with 'params' (and optionally 'fixed')")
    try:
        space = SearchSpace.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{shown(path)}: {exc}") from None
    check_fixed(space.fixed)
    return space


def _read_space_file(path: Path) -> bytes:
    """The bytes of a space file: a regular file of at most :data:`MAX_SPACE_BYTES` (a pipe would
    block and a device such as ``/dev/zero`` never end, so neither is read)."""
    try:
        # non-blocking: opening a pipe that nobody writes returns at once, and is refused below
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"{shown(path)}: cannot read the space file ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a pipe or a device"
            raise ConfigError(f"{shown(path)}: {kind}, not a space file; give a .toml or .yaml file")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_SPACE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{shown(path)}: cannot read the space file ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SPACE_BYTES:
        raise ConfigError(f"{shown(path)}: larger than {MAX_SPACE_BYTES // 1024} KiB; not a space file")
    return data


def check_fixed(fixed: dict[str, Any]) -> None:
    """Each fixed setting's name is one a space may set (its value is checked with the trial configs)."""
    for name in fixed:
        value_kind(name, "fixed setting")


def _candidates(p: Param) -> list[Any]:
    """The values of ``p`` a check tries: its bounds (or choices) and its grid values."""
    values = list(p.choices) if p.kind == "categorical" else [p.low, p.high]
    if p.kind == "int":
        values = [int(v) for v in values if v is not None]
    return values + [v for v in p.grid if v not in values]


def check_trial_configs(base: TrainConfig, space: SearchSpace, source: str = "the search space") -> None:
    """Build the configuration of a trial, as a trial builds it, for the fixed settings and for
    each parameter at its bounds, each of its choices and grid values (the others at a value the
    loss can use): a setting that training refuses is a :class:`ConfigError` naming ``source``
    before the first trial, not a failure of every trial.
    """
    from snnapp.core.training import complete_network, make_loss

    def build(values: dict[str, Any]) -> None:
        cfg = complete_network(make_config(make_config(base, space.fixed), values))
        make_loss(cfg.loss, cfg.network.num_steps, cfg.correct_rate, cfg.incorrect_rate)

    try:
        build({})
    except ConfigError as exc:
        raise ConfigError(f"{source}: fixed settings {_short(space.fixed)}: {exc}") from None
    # a point every trial could start from: the highest correct and the lowest incorrect rate
    anchor = {p.name: (max if p.name == "correct_rate" else min)(_candidates(p))
              if p.name in ("correct_rate", "incorrect_rate") else _candidates(p)[0] for p in space.params}
    for p in space.params:
        for value in _candidates(p):
            point = {**anchor, p.name: value}
            if not feasible(point, space.fixed):
                continue  # such a trial is pruned unrun
            try:
                build(point)
            except ConfigError as exc:
                fixed = f" (with {_short(space.fixed)} fixed)" if space.fixed else ""
                raise ConfigError(f"{source}: {p.name} = {_short(value)}{fixed}: {exc}") from None


def _short(value: Any) -> str:
    from snnapp.core._dictconfig import short_repr

    return short_repr(value)


def base_config(mode: str, epochs: int, seed: int) -> TrainConfig:
    """A trial's starting point: the shipped recipe of ``mode`` (what ``snnapp train --mode MODE``
    trains), run for ``epochs`` epochs; a trial changes only what its space names."""
    return load_recipe(mode).config(epochs=epochs, seed=seed, patience=max(epochs, 1))


def make_config(base: TrainConfig, values: dict[str, Any], where: str = "the trial") -> TrainConfig:
    """``base`` with fixed or sampled ``values`` applied (named as settings are, or
    :data:`COMPOUND_PARAMS`), through the one override function of the training settings."""
    return with_settings(base, expand(base, values), where)


def expand(base: TrainConfig, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each compound name replaced by the settings it stands for in ``base``'s mode."""
    out: dict[str, Any] = {}
    net = base.network
    for key, value in values.items():
        if key == "hidden":
            if net.uses_image:
                out["network.image_hidden"] = value
            if net.uses_audio:
                out["network.audio_hidden"] = tuple(value for _ in net.audio_hidden)
        elif key == "encoder":
            out.update({f"encoder.{b}": value for b, used in (("image", net.uses_image), ("audio", net.uses_audio))
                        if used})
        elif key in STUDY_SETTINGS:
            raise ConfigError(f"{key} is set by the study itself (its epochs per trial, seed, example limit and mode)")
        else:
            out[key] = value
    return out
