from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from snnapp.cli._common import one_line
from snnapp.core.data import FSDD_SPEAKERS, FsddClip, list_fsdd
from snnapp.core.errors import DataError


def test_official_split_counts(shared_data: Path) -> None:
    train, test = list_fsdd(shared_data, "train"), list_fsdd(shared_data, "test")
    everything = list_fsdd(shared_data, "all")
    assert (len(train), len(test), len(everything)) == (2700, 300, 3000)
    assert {c.path for c in train}.isdisjoint(c.path for c in test)
    assert all(c.take >= 5 for c in train) and all(c.take <= 4 for c in test)
    assert Counter(c.digit for c in train) == {d: 270 for d in range(10)}
    assert Counter(c.digit for c in test) == {d: 30 for d in range(10)}
    assert Counter(c.speaker for c in test) == {s: 50 for s in FSDD_SPEAKERS}
    assert len(FSDD_SPEAKERS) == 6


def test_clip_fields_match_file_name(shared_data: Path) -> None:
    clip = list_fsdd(shared_data, "test")[0]
    assert clip == FsddClip(shared_data / "fsdd" / "recordings" / "0_george_0.wav", 0, "george", 0)
    assert clip.path.is_file()


def test_order_is_deterministic_and_numeric(shared_data: Path) -> None:
    clips = list_fsdd(shared_data, "all")
    keys = [(c.digit, c.speaker, c.take) for c in clips]
    assert keys == sorted(keys)
    assert keys[:3] == [(0, "george", 0), (0, "george", 1), (0, "george", 2)]  # take 10 is not before 2
    assert clips == list_fsdd(shared_data, "all")


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"fsdd/recordings") as info:
        list_fsdd(tmp_path, "train")
    assert [h.kind for h in info.value.hints] == ["download", "say", "data_dir"]
    assert one_line(info.value).endswith("; run `snnapp data download fsdd`, put the WAV files there, or set "
                                         "--data-dir (or SNNAPP_DATA_DIR) to a folder that has mnist/ and "
                                         "fsdd/recordings/")


def test_folder_without_recordings(tmp_path: Path) -> None:
    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("not audio")
    with pytest.raises(DataError, match=str(folder)):
        list_fsdd(tmp_path, "all")


def test_foreign_files_are_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    for name in ("3_theo_7.wav", "3_theo_2.wav", "notes.txt", "x.wav", "12_theo_1.wav", "3_theo_1.wav.bak"):
        (folder / name).write_bytes(b"")
    (folder / "4_theo_0.wav").mkdir()
    clips = list_fsdd(tmp_path, "all")
    assert [(c.digit, c.speaker, c.take) for c in clips] == [(3, "theo", 2), (3, "theo", 7)]
    assert [c.take for c in list_fsdd(tmp_path, "test")] == [2]
    assert [c.take for c in list_fsdd(tmp_path, "train")] == [7]
