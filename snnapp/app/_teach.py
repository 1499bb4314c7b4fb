"""The guided "teach it your voice / your handwriting" session, without any Qt.

The session asks for each digit ``per_digit`` times, in an order shuffled by a seed (so a person
does not say "zero, zero, zero" and learn to say it mechanically), and keeps every example as a
file in its folder the moment it is given (WAV for recordings, PNG for drawings), so a crash or a
closed window loses nothing and ``TeachSession.load`` continues where the person stopped.
``examples()`` returns the lists ``snnapp.core.training.personalise`` takes; the app runs that on
a worker thread. Nothing here trains or imports training code.

Folder layout: ``session.json`` (modality, per_digit, seed, the prompt order) and one file per
example, ``003_digit7.wav``: the example's place in the order, then its digit.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np

from snnapp.core._atomic import _stale_entry, write_file
from snnapp.core.errors import ConfigError, InputError

MODALITIES = ("audio", "image")
SESSION_FILE = "session.json"
_SUFFIX = {"audio": ".wav", "image": ".png"}
_NAME = re.compile(r"^(\d{3})_digit(\d)\.(wav|png)$")


def default_folder(modality: str) -> Path:
    """Where a person's examples of ``modality`` live unless the app says otherwise."""
    import platformdirs

    return Path(platformdirs.user_data_dir("snnapp")) / "personal" / modality


class TeachSession:
    """Prompts, the examples given so far, and their files in ``folder``."""

    def __init__(self, modality: str, per_digit: int = 3, folder: Path | None = None, *, seed: int = 0) -> None:
        if modality not in MODALITIES:
            raise ConfigError(f"modality must be one of {', '.join(MODALITIES)}, not {modality!r}")
        if not isinstance(per_digit, int) or not 1 <= per_digit <= 100:
            raise ConfigError(f"per_digit must be an integer from 1 to 100, got {per_digit!r}")
        self.modality = modality
        self.per_digit = per_digit
        self.seed = seed
        self.folder = Path(folder) if folder is not None else default_folder(modality)
        order = np.random.default_rng(seed).permutation(np.repeat(np.arange(10), per_digit))
        self.order: tuple[int, ...] = tuple(int(d) for d in order)
        self._done = 0
        if self.folder.is_dir() and any(_NAME.match(p.name) for p in self.folder.iterdir()):
            raise ConfigError(f"{self.folder}: holds examples of an earlier session; continue it with "
                              "TeachSession.load, or clear() it first")
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = {"modality": modality, "per_digit": per_digit, "seed": seed, "order": list(self.order)}
        write_file(self.folder / SESSION_FILE, json.dumps(meta, indent=1).encode("utf-8"))

    @classmethod
    def load(cls, folder: Path) -> TeachSession:
        """The session saved in ``folder``, with the examples it holds, ready to continue."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / SESSION_FILE).read_text(encoding="utf-8"))
            modality, per_digit, seed, order = meta["modality"], meta["per_digit"], meta["seed"], meta["order"]
        except FileNotFoundError:
            raise InputError(f"{folder}: no {SESSION_FILE}; not a folder of taught examples") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{folder / SESSION_FILE}: unreadable ({exc})") from None
        self = cls.__new__(cls)
        if modality not in MODALITIES or not isinstance(per_digit, int) or per_digit < 1:
            raise InputError(f"{folder / SESSION_FILE}: invalid modality or per_digit")
        if sorted(order) != sorted(list(range(10)) * per_digit):
            raise InputError(f"{folder / SESSION_FILE}: the prompt order does not cover every digit {per_digit} times")
        self.modality, self.per_digit, self.seed, self.folder = modality, per_digit, seed, folder
        self.order = tuple(int(d) for d in order)
        self._done = self._scan()
        return self

    @classmethod
    def open(cls, modality: str, per_digit: int = 3, folder: Path | None = None, *, seed: int = 0) -> TeachSession:
        """Continue the session in ``folder`` if it holds one of ``modality``, else start a new one."""
        folder = Path(folder) if folder is not None else default_folder(modality)
        if (folder / SESSION_FILE).is_file():
            found = cls.load(folder)
            if found.modality != modality:
                raise ConfigError(f"{folder}: holds {found.modality} examples, not {modality}")
            return found
        return cls(modality, per_digit, folder, seed=seed)

    # ------------------------------------------------------------------ where the session stands
    @property
    def total(self) -> int:
        return len(self.order)

    @property
    def done(self) -> int:
        return self._done

    @property
    def complete(self) -> bool:
        return self._done >= self.total

    @property
    def next_digit(self) -> int | None:
        """The digit to record or draw next; None when every prompt is answered."""
        return None if self.complete else self.order[self._done]

    def _path(self, i: int) -> Path:
        return self.folder / f"{i:03d}_digit{self.order[i]}{_SUFFIX[self.modality]}"

    def _scan(self) -> int:
        """How many prompts, from the first, have their file (a gap ends the count)."""
        n = 0
        while n < self.total and self._path(n).is_file():
            n += 1
        return n

    def files(self) -> list[Path]:
        return [self._path(i) for i in range(self._done)]

    # ------------------------------------------------------------------ changing it
    def add(self, sample: np.ndarray, rate: int | None = None) -> Path:
        """Keep ``sample`` as the answer to the current prompt: samples at ``rate`` (audio), or a
        grayscale image, uint8 or float in [0, 1], white ink on black (image). Returns its file."""
        if self.complete:
            raise InputError(f"all {self.total} examples are already given")
        x = np.asarray(sample)
        path = self._path(self._done)
        if self.modality == "audio":
            import soundfile as sf

            if x.ndim not in (1, 2) or x.size == 0 or not np.issubdtype(x.dtype, np.number):
                raise InputError(f"a recording must be non-empty samples [n] or [n, channels], got shape {x.shape}")
            if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
                raise InputError(f"a recording needs its sample rate, got {rate!r}")
            data = np.nan_to_num(x.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            buffer = io.BytesIO()
            sf.write(buffer, data, int(rate), format="WAV", subtype="FLOAT")
            write_file(path, buffer.getbuffer())
        else:
            from PIL import Image

            if x.ndim != 2 or x.size == 0:
                raise InputError(f"a drawing must be a grayscale image [height, width], got shape {x.shape}")
            if np.issubdtype(x.dtype, np.floating) or x.dtype == bool:
                x = np.clip(np.nan_to_num(x.astype(np.float32)), 0.0, 1.0) * 255.0
            img = Image.fromarray(np.clip(np.round(x), 0, 255).astype(np.uint8))
            buffer = io.BytesIO()
            img.save(buffer, format="PNG")
            write_file(path, buffer.getbuffer())
        self._done += 1
        return path

    def undo_last(self) -> int | None:
        """Forget the last example (its file too); returns the digit asked again, None if none was given."""
        if self._done == 0:
            return None
        self._done -= 1
        self._path(self._done).unlink(missing_ok=True)
        return self.order[self._done]

    def clear(self) -> None:
        """Delete every example of the session; the prompts start again from the first."""
        for p in self.folder.glob("*"):
            if p.is_file() and (_NAME.match(p.name) or p.name.endswith(".part") or _stale_entry(p)):
                p.unlink()
        self._done = 0

    # ------------------------------------------------------------------ reading it back
    def examples(self) -> list[tuple]:
        """What ``personalise`` takes: ``[(samples, rate, digit)]`` as ``audio=``, or
        ``[(image uint8 [h, w], digit)]`` as ``images=``."""
        out: list[tuple] = []
        for i, path in enumerate(self.files()):
            digit = self.order[i]
            if self.modality == "audio":
                import soundfile as sf

                data, rate = sf.read(str(path), dtype="float32")
                out.append((data, int(rate), digit))
            else:
                from PIL import Image

                with Image.open(path) as im:
                    out.append((np.asarray(im.convert("L"), dtype=np.uint8), digit))
        return out
