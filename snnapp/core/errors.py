"""Errors the user can act on.

Every error raised for bad input, missing data or a damaged model derives from
:class:`SnnappError`; the CLI prints its message on one line, without a traceback.
Messages name the file concerned and say what is wrong with it.

What the user can do about it is a :class:`Hint`: a remedy named in neutral terms (run on the
CPU, use another backend, choose another data folder), kept on the error as ``exc.hint`` (and
``exc.hints`` where there are alternatives). ``str(exc)`` says what went wrong and the remedy in
plain words, with no command-line syntax; each interface says the remedy in its own words from
the hint: the CLI as its options (``use --device cpu``), the app as its settings (``choose a
CPU backend (torch cpu or onnx) in Settings``), through :meth:`SnnappError.render`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Hint:
    """A remedy, named so that each interface can say it in its own words.

    ``kind`` says what to change and ``value`` (where there is one) to what. The kinds:

    ========== ====================================== =================================================
    kind       value                                  the remedy
    ========== ====================================== =================================================
    device     the device, e.g. ``cpu``               run on that device
    backend    the backend, e.g. ``onnx``             run on that inference backend
    export     the model folder                       export the folder's ONNX graphs (again)
    model      (none)                                 name a model folder
    data_dir   what the folder must be                choose another data folder
    download   the data set, e.g. ``mnist``           download that data set
    resume     (none)                                 start afresh instead of resuming
    out        (none)                                 write to another folder
    audio_file (none)                                 replay a recording instead of the microphone
    mic        (none)                                 name another microphone (index or name)
    study      (none)                                 choose another study name
    sampler    (none)                                 leave the sampler unset
    objectives the methods that take several          tune several objectives with one of those methods
    install    a pip requirement                      install it
    delete     a path                                 delete it
    say        the remedy in words                    the same words everywhere
    ========== ====================================== =================================================
    """

    kind: str
    value: str | None = None

    def __str__(self) -> str:
        return plain(self)


_PLAIN: dict[str, Callable[[str | None], str]] = {
    "device": lambda v: "run it on the CPU" if v == "cpu" else f"run it on device {v}",
    "backend": lambda v: f"run it on the {v} backend",
    "export": lambda v: f"export the ONNX graphs of {v}",
    "model": lambda v: "name a model folder",
    "data_dir": lambda v: f"choose {v} as the data folder",
    "download": lambda v: f"download the {v} data set",
    "resume": lambda v: "start afresh instead of resuming",
    "out": lambda v: "write the model to another folder",
    "audio_file": lambda v: "replay a recording instead",
    "mic": lambda v: "name an input device by its index or name",
    "study": lambda v: "choose another study name",
    "sampler": lambda v: "leave the sampler unset",
    "objectives": lambda v: f"tune several objectives with {v}",
    "grid": lambda v: f"give the grid values in the space file (grid = [...]) or as {v}",
    "install": lambda v: f"pip install {_quoted(v)}",
    "delete": lambda v: f"delete {v}",
}


def _quoted(requirement: str | None) -> str:
    """A pip requirement as a shell takes it: quoted where it has ``<``, ``>`` or ``[``."""
    text = requirement or ""
    return f"'{text}'" if any(c in text for c in "<>[]") else text


def plain(hint: Hint) -> str:
    """``hint`` in plain words, for any interface (and for ``str`` of an error)."""
    say = _PLAIN.get(hint.kind)
    if say is None:
        return hint.value or hint.kind
    return say(hint.value)


def alternatives(texts: Sequence[str]) -> str:
    """``a``, ``a, or b``, ``a, b, or c``."""
    texts = [t for t in texts if t]
    if len(texts) <= 1:
        return "".join(texts)
    return ", ".join(texts[:-1]) + ", or " + texts[-1]


class SnnappError(Exception):
    """Base class of all errors meant for the user.

    ``SnnappError(message, hint=...)``: ``message`` says what went wrong; ``hint`` is a
    :class:`Hint`, or a sequence of them for alternatives, kept as :attr:`hints`.
    """

    def __init__(self, *args: object, hint: Hint | Sequence[Hint] | None = None) -> None:
        super().__init__(*args)
        self.hints: tuple[Hint, ...] = (hint,) if isinstance(hint, Hint) else tuple(hint or ())

    @property
    def hint(self) -> Hint | None:
        """The first remedy, or None."""
        return self.hints[0] if self.hints else None

    @property
    def problem(self) -> str:
        """What went wrong, without the remedy of the hints."""
        return super().__str__()

    def render(self, say: Callable[[Hint], str] = plain) -> str:
        """The message with the hints said by ``say`` (an interface's words), on one line."""
        remedy = alternatives([say(h) for h in self.hints])
        return f"{self.problem}; {remedy}" if remedy else self.problem

    def __str__(self) -> str:
        return self.render(plain)


class DataError(SnnappError):
    """A data set file is missing, corrupt, or cannot be downloaded."""


class InputError(SnnappError):
    """An input file (WAV, image) cannot be read or makes no sense."""


class ModelError(SnnappError):
    """A model folder is missing files, damaged, tampered with, or of another architecture."""


class ConfigError(SnnappError):
    """A configuration value or file is invalid."""


class PathError(SnnappError):
    """A destination the project will not write: it holds something the project did not write
    (a user's file or folder, a link to elsewhere), or is not a place a file can go (``.``, a pipe)."""
