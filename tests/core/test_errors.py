"""Errors carry what went wrong and, apart, a hint naming the remedy; their words name no option of
the command line (each interface says the remedy its own way)."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest

from snnapp.core.errors import (
    ConfigError,
    DataError,
    Hint,
    InputError,
    ModelError,
    PathError,
    SnnappError,
    alternatives,
    plain,
)

ROOT = Path(__file__).resolve().parents[2]
#: A command-line option in a message (``--device``), or a command to run (```snnapp export```).
CLI_SYNTAX = re.compile(r"(?<![\w-])--[a-z]|`snnapp ")
#: Messages not converted yet, in files being rewritten elsewhere: path -> what they name.
NOT_YET: dict[str, str] = {}


def test_an_error_keeps_its_hint_apart_from_what_went_wrong():
    exc = ModelError("device 'cuda' asked for, but torch sees no CUDA GPU here", hint=Hint("device", "cpu"))
    assert exc.hint == Hint("device", "cpu") and exc.hints == (Hint("device", "cpu"),)
    assert exc.problem == "device 'cuda' asked for, but torch sees no CUDA GPU here"
    assert str(exc) == "device 'cuda' asked for, but torch sees no CUDA GPU here; run it on the CPU"
    assert exc.render(lambda h: f"<{h.kind}={h.value}>") == f"{exc.problem}; <device=cpu>"
    plain_error = InputError("no such file")
    assert plain_error.hint is None and plain_error.hints == () and str(plain_error) == "no such file"


def test_alternatives_are_said_in_one_line():
    exc = DataError("FSDD recordings folder missing: x",
                    hint=(Hint("download", "fsdd"), Hint("say", "put the WAV files there"), Hint("delete", "y")))
    assert str(exc) == "FSDD recordings folder missing: x; download the fsdd data set, put the WAV files there, or delete y"
    assert alternatives(["a", "b"]) == "a, or b" and alternatives([]) == "" and alternatives(["a"]) == "a"


def test_a_hint_is_a_small_frozen_value_that_survives_pickling():
    hint = Hint("backend", "onnx")
    with pytest.raises(AttributeError):
        hint.kind = "device"  # type: ignore[misc]
    assert {hint, Hint("backend", "onnx")} == {hint}
    exc = pickle.loads(pickle.dumps(ConfigError("x", hint=(hint, Hint("study")))))
    assert exc.hints == (hint, Hint("study")) and str(exc) == "x; run it on the onnx backend, or choose another study name"
    assert plain(Hint("install", "optuna>=4.9,<6")) == "pip install 'optuna>=4.9,<6'"
    assert plain(Hint("something new", "do this")) == "do this"  # a kind without words: its value


def test_a_disk_error_is_still_an_os_error_with_a_hint():
    from snnapp.core._atomic import DiskError

    exc = DiskError("cannot write x: no space left on /", hint=Hint("delete", "/tmp/old"))
    assert isinstance(exc, OSError) and str(exc) == "cannot write x: no space left on /; delete /tmp/old"


def _raised_messages(path: Path) -> list[tuple[int, str]]:
    """The string pieces of every ``raise X(...)`` in ``path``, with their line numbers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            for arg in node.exc.args:
                for part in ast.walk(arg):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        found.append((node.lineno, part.value))
    return found


def test_no_error_of_the_core_or_the_tuning_names_a_command_line_option():
    bad = []
    for package in ("snnapp/core", "snnapp/tuning"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for line, text in _raised_messages(path):
                if CLI_SYNTAX.search(text) and rel not in NOT_YET:
                    bad.append(f"{rel}:{line}: {text}")
    assert not bad, "\n".join(bad)


def test_a_device_without_cuda_hints_the_cpu(monkeypatch):
    torch = pytest.importorskip("torch")
    from snnapp.core.torch_model import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError) as info:
        resolve_device("cuda")
    assert info.value.hint == Hint("device", "cpu") and "--" not in str(info.value)


def test_core_errors_carry_their_hints(tmp_path):
    from snnapp.core.data import list_fsdd
    from snnapp.core.predict import shipped_model

    with pytest.raises(ModelError) as info:
        shipped_model("no-such-mode")
    assert info.value.hint == Hint("model")
    with pytest.raises(DataError) as data:
        list_fsdd(tmp_path)
    assert [h.kind for h in data.value.hints] == ["download", "say", "data_dir"]
    assert data.value.hint == Hint("download", "fsdd")
    (tmp_path / "fsdd" / "recordings").mkdir(parents=True)
    with pytest.raises(DataError) as empty:
        list_fsdd(tmp_path)
    assert empty.value.hints == (Hint("download", "fsdd"),)


def test_a_missing_microphone_hints_another_device_or_a_recording():
    from snnapp.core.runtime._listen import _input_device

    class NoMicrophones:
        """sounddevice on a machine without input devices."""

        PortAudioError = OSError

        @staticmethod
        def query_devices(device=None, kind=None):
            if kind is not None:
                raise ValueError("no such device")
            return []

    with pytest.raises(InputError) as default:
        _input_device(NoMicrophones, None)
    assert default.value.hints == (Hint("mic"), Hint("audio_file"))
    with pytest.raises(InputError) as named:
        _input_device(NoMicrophones, "USB")
    assert named.value.hints == (Hint("mic"),) and str(named.value).startswith("microphone 'USB': no such input device")


def test_tuning_errors_carry_their_hints():
    pytest.importorskip("optuna")
    from snnapp.tuning import get_method
    from snnapp.tuning._storage import check_same_study

    with pytest.raises(ConfigError) as sampler:
        get_method("random", "gp")
    assert sampler.value.hint == Hint("sampler") and "applies to bayes only" in str(sampler.value)
    with pytest.raises(ConfigError) as study:
        check_same_study("s", {"mode": "audio"}, {"mode": "image"})
    assert study.value.hint == Hint("study") and "--" not in str(study.value)


def test_every_error_class_takes_a_hint():
    for cls in (SnnappError, DataError, InputError, ModelError, ConfigError, PathError):
        assert cls("x", hint=Hint("say", "y")).hints == (Hint("say", "y"),)
