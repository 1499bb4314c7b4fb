"""Listing the Free Spoken Digit Dataset recordings and its official train/test split.

Only the file names are read here (``{digit}_{speaker}_{take}.wav``); decoding the audio belongs
to preprocessing, so that training and inference share one path from WAV to features.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from snnapp.core.data._manifest import fsdd_recordings_dir
from snnapp.core.errors import DataError, Hint

#: The six speakers of release v1.0.10, in alphabetical order.
FSDD_SPEAKERS: tuple[str, ...] = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
#: Takes below this number form the official test set (takes 0-4), the rest the training set.
FSDD_TEST_TAKES = 5

_NAME = re.compile(r"^([0-9])_([A-Za-z]+)_([0-9]+)\.wav$")


@dataclass(frozen=True)
class FsddClip:
    """One recording: where it is and what its file name says about it."""

    path: Path
    digit: int
    speaker: str
    take: int


def parse_fsdd_name(path: Path) -> FsddClip | None:
    """The clip described by a file name, or None when the name is not an FSDD recording name."""
    match = _NAME.match(path.name)
    if match is None:
        return None
    digit, speaker, take = match.groups()
    return FsddClip(path=path, digit=int(digit), speaker=speaker, take=int(take))


def list_fsdd(data_dir: str | Path, split: Literal["train", "test", "all"] = "all") -> list[FsddClip]:
    """The recordings of one split, sorted by (digit, speaker, take) so the order never varies.

    Reads ``data_dir/fsdd/recordings``; files whose names do not follow the FSDD pattern are
    skipped. The official split puts takes 0-4 in ``test`` and takes 5-49 in ``train``.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
    folder = fsdd_recordings_dir(Path(data_dir))
    if not folder.is_dir():
        raise DataError(
            f"FSDD recordings folder missing: {folder}",
            hint=(Hint("download", "fsdd"), Hint("say", "put the WAV files there"),
                  Hint("data_dir", "a folder that has mnist/ and fsdd/recordings/")),
        )
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.is_file()]
    except OSError as exc:
        raise DataError(f"{folder}: cannot be listed ({exc})") from exc
    clips = [c for c in (parse_fsdd_name(folder / n) for n in names) if c is not None]
    if not clips:
        raise DataError(
            f"{folder}: holds no FSDD recordings (files named like 0_george_0.wav)", hint=Hint("download", "fsdd")
        )
    if split == "test":
        clips = [c for c in clips if c.take < FSDD_TEST_TAKES]
    elif split == "train":
        clips = [c for c in clips if c.take >= FSDD_TEST_TAKES]
    clips.sort(key=lambda c: (c.digit, c.speaker, c.take))
    return clips
