"""MFCC features of many recordings, computed in parallel and cached on disk.

The cache key covers the audio parameters, the augmentation settings and each file's name, size
and modification time, so a change to any of them recomputes, and nothing stale is ever reused.
Cache files are written atomically: an interrupted run leaves no half-written file behind. A
cached array is used only if it has the expected shape and type and holds finite numbers; anything
else (damage, a foreign file) is recomputed and replaced. The cache is optional: where it cannot
be written (a file in its place, a read-only or full disk) one warning is logged for that folder
and the features are used all the same.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from snnapp.core import vad
from snnapp.core._atomic import shown, write_file
from snnapp.core.preprocess import AudioConfig, audio_features, augment_waveform, load_wav, to_mono

log = logging.getLogger(__name__)
#: Cache folders that could not be written, already warned about (once per folder and process).
_unwritable: set[str] = set()


def speech_pool(paths: list[Path], rate: int, n: int = 200, seed: int = 0) -> list[np.ndarray]:
    """Up to ``n`` of the recordings at ``paths`` (a seeded choice), mono at ``rate``: the talkers
    that ``babble`` noise mixes. Give it training recordings, never the ones under test. The
    choice depends on the names, not on their order."""
    by_name = sorted(paths, key=lambda p: os.fsencode(Path(p).name))
    chosen = np.random.default_rng(seed).permutation(len(by_name))[:n]
    return [to_mono(*load_wav(by_name[i]), rate) for i in sorted(chosen)]


_POOL: list[np.ndarray] = []  # the babble pool of a worker process (sent once, not per clip)


def _set_pool(pool: list[np.ndarray]) -> None:
    _POOL[:] = pool


def _map(fn: Callable[[Any], np.ndarray], jobs: list, talkers: list[np.ndarray], workers: int | None,
         chunk: int) -> list[np.ndarray]:
    """``fn`` over ``jobs``, in worker processes where there are enough jobs, with babble's
    ``talkers`` sent to each worker once."""
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    if workers > 1 and len(jobs) > 2 * chunk:
        with ProcessPoolExecutor(workers, initializer=_set_pool, initargs=(talkers,)) as ex:
            return list(ex.map(fn, jobs, chunksize=chunk))
    _set_pool(talkers)
    return [fn(j) for j in jobs]


def _name_seed(path: str | Path) -> int:
    """A seed from a recording's name (not its position in a list, nor its folder)."""
    return int.from_bytes(hashlib.sha256(os.fsencode(Path(path).name)).digest()[:4], "little")


def _key(paths: list[Path], cfg: AudioConfig, copies: int, seed: int) -> str:
    h = hashlib.sha256()
    # the word's cut is part of the features: the detector's settings and version are in the key
    cut = {"config": asdict(vad.VadConfig()), "version": vad.VAD_VERSION} if cfg.trim == "noise" else None
    h.update(json.dumps({"audio": cfg.to_dict(), "vad": cut, "copies": copies, "seed": seed, "v": 2},
                        sort_keys=True).encode())
    for p in paths:
        st = p.stat()
        h.update(os.fsencode(p.name) + f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())  # any bytes of a name
    return h.hexdigest()[:24]


def _one(args: tuple[str, dict, int, int]) -> np.ndarray:
    """Features of one file: the clean version first, then ``copies`` augmented ones."""
    path, cfg_dict, copies, seed = args
    cfg = AudioConfig.from_dict(cfg_dict)
    out = [audio_features(path, cfg)]
    if copies:
        data, rate = load_wav(path)
        x = to_mono(data, rate, cfg.sample_rate)
        # Seeded per file (by name, not position): reordering the files changes nothing (adding some
        # changes only which talkers babble noise draws on).
        name_seed = _name_seed(path)
        rng = np.random.default_rng([seed, name_seed])
        for _ in range(copies):
            y = augment_waveform(x, cfg.sample_rate, rng, pool=_POOL)
            out.append(audio_features(y, cfg, rate=cfg.sample_rate))
    return np.stack(out)


def compute_features(
    paths: list[Path], cfg: AudioConfig, *, copies: int = 0, seed: int = 0,
    cache_dir: Path | None = None, workers: int | None = None,
) -> np.ndarray:
    """``[len(paths), 1 + copies, n_frames, n_features]`` float32 features, from the cache if present.

    Index 0 along the second axis is the clean recording; 1..copies are augmented versions
    (speed, pitch, reverberation, microphone colour, a noisy room or noise under the word, time
    shift, gain) for training; babble's talkers are drawn from ``paths`` themselves.
    """
    paths = [Path(p) for p in paths]
    target = None
    if cache_dir is not None:
        target = Path(cache_dir) / "features" / f"mfcc-{_key(paths, cfg, copies, seed)}.npy"
        cached = _read_cached(target, (len(paths), 1 + copies, cfg.n_frames, cfg.n_features))
        if cached is not None:
            return cached
    jobs = [(str(p), cfg.to_dict(), copies, seed) for p in paths]
    # the talkers of babble noise: the recordings being augmented themselves (training ones only)
    talkers = speech_pool(paths, cfg.sample_rate, seed=seed) if copies else []
    arr = np.stack(_map(_one, jobs, talkers, workers, chunk=32)).astype(np.float32)
    if target is not None:
        _write_cached(target, arr)
    return arr


def _read_cached(target: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached array at ``target`` if it is one this module would have written for ``shape``:
    float32, that shape, finite. None otherwise (absent, unreadable, damaged, NaN-filled)."""
    try:
        if not target.is_file():
            return None
        arr = np.load(target, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # EOFError: an empty file
        return None
    if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != np.float32 or not np.isfinite(arr).all():
        return None  # recomputed, and replaced below
    return arr


def _write_cached(target: Path, arr: np.ndarray) -> None:
    """Write ``arr`` to ``target`` atomically; a file-system failure only costs the cache (one warning)."""
    buffer = io.BytesIO()
    np.save(buffer, arr, allow_pickle=False)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_file(target, buffer.getbuffer())
    except OSError as exc:  # DiskError too: the project's one atomic write said what failed
        folder = str(target.parent)
        if folder not in _unwritable:
            _unwritable.add(folder)
            log.warning("feature cache not used: cannot write %s (%s); the features are computed afresh each run",
                        shown(folder), exc.strerror or exc)


def _noisy_one(args: tuple[str, dict, tuple[str, ...], tuple[float, ...], int]) -> np.ndarray:
    """Features of one recording in a room of each noise at each SNR: ``[kinds, snrs, frames, features]``."""
    from snnapp.core.preprocess import NOISE_KINDS, room_mix

    path, cfg_dict, kinds, snrs, seed = args
    cfg = AudioConfig.from_dict(cfg_dict)
    x = to_mono(*load_wav(path), cfg.sample_rate)
    name_seed = _name_seed(path)
    out = np.empty((len(kinds), len(snrs), cfg.n_frames, cfg.n_features), np.float32)
    for i, kind in enumerate(kinds):
        for j, snr in enumerate(snrs):
            # the same room for a clip whatever else is measured beside it
            rng = np.random.default_rng([seed, name_seed, NOISE_KINDS.index(kind), int(round(snr * 10)) + 1000])
            out[i, j] = audio_features(room_mix(x, cfg.sample_rate, kind, snr, rng, _POOL), cfg,
                                       rate=cfg.sample_rate)
    return out


def noisy_features(paths: list[Path], cfg: AudioConfig, kinds: tuple[str, ...], snrs: tuple[float, ...],
                   pool: list[np.ndarray], *, seed: int = 0, workers: int | None = None) -> np.ndarray:
    """``[len(paths), len(kinds), len(snrs), n_frames, n_features]``: each recording with noise
    around it (:func:`~snnapp.core.preprocess.room_mix`), seeded by the file's name, noise kind
    and SNR, so that every model measured meets the same rooms. ``pool``: babble's talkers."""
    jobs = [(str(p), cfg.to_dict(), tuple(kinds), tuple(float(s) for s in snrs), seed) for p in paths]
    return np.stack(_map(_noisy_one, jobs, pool, workers, chunk=8))
