"""``predict`` (text and JSON) and ``listen --audio-file`` against hostile input names: a name that
is not UTF-8 or holds a newline, a FIFO, a folder, a link to nowhere, an empty file. The promises
are those of ``test_hostile_destinations.py``: exit 0 or 2, no traceback, one error line naming
the file, nothing changed, no temporary left. Standard output closed or full: ``test_names_and_streams.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from snnapp.core.modelio import shown

from .test_hostile_destinations import Place, check_outcome, run, snapshot, temporaries

INPUT_KINDS = ["non_utf8", "newline", "fifo", "folder", "dangling_link", "empty_file"]


def _input(kind: str, root: Path, wav: Path) -> tuple[str, bool]:
    """An input file of ``kind`` under ``root``, and whether it is a readable recording."""
    if kind == "non_utf8":
        path = os.fsencode(root) + b"/seven\xff.wav"
        with open(path, "wb") as f:
            f.write(wav.read_bytes())
        return os.fsdecode(path), True
    if kind == "newline":
        (root / "seven\nlines.wav").write_bytes(wav.read_bytes())
        return str(root / "seven\nlines.wav"), True
    if kind == "fifo":
        os.mkfifo(root / "pipe.wav")
        return str(root / "pipe.wav"), False
    if kind == "folder":
        (root / "dir.wav").mkdir()
        return str(root / "dir.wav"), False
    if kind == "dangling_link":
        (root / "gone.wav").symlink_to(root / "nowhere.wav")
        return str(root / "gone.wav"), False
    (root / "empty.wav").write_bytes(b"")
    return str(root / "empty.wav"), False


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", INPUT_KINDS)
@pytest.mark.parametrize("command", [["predict", "--json", "--audio"], ["predict", "--audio"],
                                     ["listen", "--fast", "--audio-file"]])
def test_predict_and_listen_inputs(kind: str, command: list[str], data_dir: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "home"
    root.mkdir()
    monkeypatch.chdir(root)
    name, readable = _input(kind, root, data_dir / "fsdd" / "recordings" / "7_jackson_0.wav")
    place = Place(kind, name, root, readable)
    before = snapshot(root)
    res = run([*command, name])
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    if "--json" in command:  # errors too are rows of the JSON output, one per input
        assert res.exit_code in (0, 2) and "Traceback" not in res.output, res.output
        row = json.loads(lines[0])
        assert len(lines) == 1 and row["input"] == name  # JSON keeps the name as given
        assert (res.exit_code == 0 and "digit" in row) if readable else (res.exit_code == 2 and "error" in row), row
        assert snapshot(root) == before and not temporaries(root)
        return
    check_outcome(res, place, before)
    if readable:
        assert res.exit_code == 0 and lines, res.output
        assert command[0] == "listen" or (len(lines) == 1 and lines[0].startswith(shown(name) + ":")), lines
    else:
        assert res.exit_code == 2 and shown(name) in res.stderr, res.stderr
