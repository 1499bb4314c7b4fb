"""Errors in the app's words: the remedy of an error's hint said as the app's controls, not as options
of the command line (the CLI says ``use --device cpu``, the app ``choose a CPU backend in Settings``)."""

from __future__ import annotations

from snnapp.core.errors import Hint, SnnappError, plain

#: Each kind of remedy (:class:`~snnapp.core.errors.Hint`) said as what to do in the app; a kind not
#: here (studies, training runs, installing a package) is said in the core's plain words.
_IN_THE_APP = {
    "device": lambda v: "choose a CPU backend (torch cpu or onnx) in Settings" if v == "cpu"
    else f"choose the device {v} in Settings",
    "backend": lambda v: "choose the onnx backend in Settings" if v == "onnx"
    else f"choose a {v} backend in Settings",
    "export": lambda v: f"export the ONNX graphs of {v} again",
    "model": lambda v: "choose a model folder in Settings",
    "data_dir": lambda v: f"start the app with {v} as its data folder",
    "download": lambda v: f"download the {v} data set into the data folder",
    "audio_file": lambda v: "replay a WAV file instead of the microphone",
    "mic": lambda v: "choose another microphone in Settings",
}


def in_app_words(hint: Hint) -> str:
    """``hint`` said as what to do in the app."""
    say = _IN_THE_APP.get(hint.kind)
    return say(hint.value) if say is not None else plain(hint)


def error_text(exc: BaseException) -> str:
    """What the app shows for ``exc``: what went wrong, and the remedy in the app's words."""
    if isinstance(exc, SnnappError):
        return exc.render(in_app_words)
    return str(exc) or type(exc).__name__
