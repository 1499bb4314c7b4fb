"""Where a study's name becomes part of a path (its trial folder, its plots): one safe file name.

Study names are free text chosen by users (``team/exp1``, ``../x``, names with spaces or control
characters); a file name made from one must stay a single component of the folder it is put in.
"""

from __future__ import annotations

import hashlib
import os
import re

#: Characters a study's file name keeps as they are; every other one is replaced.
_KEPT = re.compile(r"[A-Za-z0-9_.+-]")
#: Longest kept part of a name (room is left for a suffix such as ``_slice_lr_correct_rate.png``).
MAX_STEM = 80


def study_file_name(name: str) -> str:
    """A single, safe file name component for the study ``name``.

    A name made only of letters, digits and ``_ . + -`` that does not start with a dot (and is not
    a name the project keeps for files being written, ``*.part``) is used as it is. Any other name
    has its other characters replaced by ``_``, is cut to :data:`MAX_STEM` characters, and gets a
    ``~`` and a short hash of the whole name, so that two distinct names never share a file name
    (``~`` is never kept, so a suffixed name cannot equal a name used as it is).
    """
    text = os.fsdecode(name) if isinstance(name, bytes) else str(name)
    kept = "".join(c if _KEPT.fullmatch(c) else "_" for c in text)
    if kept == text and text and not text.startswith(".") and not text.lower().endswith(".part") \
            and len(text) <= MAX_STEM:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    stem = kept[:MAX_STEM].lstrip(".") or "study"
    return f"{stem}~{digest}"
