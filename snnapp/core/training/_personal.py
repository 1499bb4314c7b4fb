"""``personalise``: fine-tune a trained model on one person's voice or handwriting.

A model trained on FSDD's six speakers or on MNIST's writers can fail on a voice or a hand unlike
theirs. A few examples of that person, recorded or drawn in the app, fix much of it when the
model is trained a little further on them *together with* the public data: the person's
examples alone would pull the network towards them and make it forget everyone else.

What is trained on, and what is measured:

* Per digit, ``holdout_per_digit`` of the person's examples (chosen by ``seed``) are held back:
  never trained on, they give the accuracy ``before`` (the base model) and ``after``.
* Training: the person's other examples, each ``repeat_user`` times so that a handful weighs
  against hundreds of public ones (recordings also as augmented copies, as in normal training),
  plus a random sample of the public training split of the same modality.
* Validation, which picks the best epoch and fits the readout temperature: the held-back
  examples *and* a slice of the public validation split. With the person's examples alone, the
  choice would favour an epoch that fits them and has forgotten the public data; with the public
  slice alone, it would ignore what the fine-tune is for. Because the held-back examples help
  choose among the (few) epochs, ``after`` is slightly optimistic; they never change a weight.

The new model is trained into a temporary folder beside ``out`` and moved into place only once
it is complete and measured, so a failure (or a cancel: raise from a progress callback) leaves
whatever was at ``out`` untouched.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnapp.core.data import list_fsdd, load_mnist, stratified_split
from snnapp.core.errors import ConfigError, InputError
from snnapp.core.examples import Examples
from snnapp.core.features import compute_features
from snnapp.core.modelio import (
    ModelConfig,
    ModelFolder,
    claim_model_folder,
    is_model_folder,
    load_model,
    replace_folder,
    update_metrics,
)
from snnapp.core.preprocess import (
    audio_features,
    augment_waveform,
    image_features,
    to_mono,
)

from ._config import Progress, SilentProgress, TrainConfig
from ._recipe import with_settings
from ._trainer import train

#: Speaker name of the person's recordings in the examples (per-speaker validation metrics).
USER = "user"


@dataclass
class PersonalResult:
    """What a fine-tune produced, and how the base and the new model do on the held-back examples."""

    model_dir: Path
    mode: str
    #: Accuracy of the base model and of the new one on the held-back examples.
    before: float
    after: float
    #: The held-back examples' labels, and each model's digit for them (in the same order).
    holdout_labels: list[int]
    before_digits: list[int]
    after_digits: list[int]
    n_user_train: int
    n_user_holdout: int
    n_public_train: int
    n_public_val: int
    seconds: float
    #: The training run's metrics (history, validation), as saved in the model's metrics.json.
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def improved(self) -> bool:
        return self.after > self.before


def _label(label: Any, what: str) -> int:
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)) or not 0 <= label <= 9:
        raise InputError(f"{what}: label {label!r} is not a digit 0-9")
    return int(label)


def _audio_rows(audio: list, cfg: ModelConfig, copies: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[n, 1 + copies, n_frames, n_features]`` of the recordings, through the model's own path."""
    rows, labels = [], []
    sr = cfg.audio.sample_rate
    for i, item in enumerate(audio):
        what = f"recording {i}"
        if not isinstance(item, tuple) or len(item) != 3:
            raise InputError(f"{what}: expected (samples, sample rate, label), got {type(item).__name__}")
        samples, rate, label = item
        label = _label(label, what)
        x = np.asarray(samples)
        if x.ndim not in (1, 2) or x.size == 0 or not np.issubdtype(x.dtype, np.number):
            raise InputError(f"{what} (digit {label}): expected non-empty mono samples [n] or [n, channels], "
                             f"got shape {x.shape} of {x.dtype}")
        x = np.nan_to_num(x.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        if not np.any(x):
            raise InputError(f"{what} (digit {label}): the recording is silent")
        if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, np.integer)):
            raise InputError(f"{what} (digit {label}): sample rate {rate!r} is not an integer")
        try:
            feats = [audio_features(x, cfg.audio, rate=int(rate))]
            mono = to_mono(x, int(rate), sr)
            rng = np.random.default_rng([seed, i])  # the same copies on every run
            feats += [audio_features(augment_waveform(mono, sr, rng), cfg.audio, rate=sr) for _ in range(copies)]
        except InputError as exc:
            raise InputError(f"{what} (digit {label}): {exc}") from None
        rows.append(np.stack(feats))
        labels.append(label)
    return np.stack(rows).astype(np.float32), np.array(labels, dtype=np.int64)


def _image_rows(images: list, cfg: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``[n, 28, 28]`` MNIST-style images through the model's own image path."""
    rows, labels = [], []
    for i, item in enumerate(images):
        what = f"drawing {i}"
        if not isinstance(item, tuple) or len(item) != 2:
            raise InputError(f"{what}: expected (image, label), got {type(item).__name__}")
        image, label = item
        label = _label(label, what)
        x = np.asarray(image)
        if x.ndim != 2 or min(x.shape) < 8 or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise InputError(f"{what} (digit {label}): expected a grayscale image [height, width] of at least "
                             f"8x8 pixels, got shape {x.shape} of {x.dtype}")
        try:
            mnist = image_features(x, cfg.image)
        except InputError as exc:
            raise InputError(f"{what} (digit {label}): {exc}") from None
        if not np.any(mnist > 0):
            raise InputError(f"{what} (digit {label}): the drawing is blank")
        rows.append(np.round(np.clip(mnist, 0.0, 1.0) * 255.0).astype(np.uint8))
        labels.append(label)
    return np.stack(rows), np.array(labels, dtype=np.int64)


def _hold_back(labels: np.ndarray, per_digit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-back) indices: ``per_digit`` of each digit held back, chosen by ``seed``."""
    counts = {int(d): int((labels == d).sum()) for d in np.unique(labels)}
    short = {d: n for d, n in counts.items() if n < per_digit + 1}
    if short:
        raise InputError(
            f"too few examples: each digit given needs at least {per_digit + 1} ({per_digit} held back to "
            "measure, at least one to learn from); "
            + ", ".join(f"digit {d} has {n}" for d, n in sorted(short.items())))
    rng = np.random.default_rng(seed)
    hold = [rng.permutation(np.flatnonzero(labels == d))[:per_digit] for d in sorted(counts)]
    held = np.sort(np.concatenate(hold))
    return np.setdiff1d(np.arange(len(labels)), held), held


def _pick(indices: np.ndarray, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    return np.sort(indices if limit is None or limit >= len(indices) else rng.choice(indices, limit, replace=False))


def _public(mode: str, cfg: ModelConfig, data_dir: Path, limit: int | None, n_val: int, copies: int, seed: int,
            cache_dir: Path | None) -> tuple[Examples, Examples]:
    """A random sample of the public train split and a slice of its validation split.

    The split is carved as the base model's own training carved it (its val_fraction and seed),
    so the validation slice holds nothing the base model was trained on.
    """
    tr = cfg.training
    rng = np.random.default_rng([seed, 1])
    if mode == "image":
        images, labels = load_mnist(data_dir, "train")
        labels = labels.astype(np.int64)
        t, v = stratified_split(labels, tr.get("val_fraction", 0.1), tr.get("seed", 0))
        t, v = _pick(t, limit, rng), _pick(v, n_val, rng)
        return (Examples("image", labels[t], images=images[t]), Examples("image", labels[v], images=images[v]))
    clips = list_fsdd(data_dir, "train")
    labels = np.array([c.digit for c in clips], dtype=np.int64)
    t, v = stratified_split(labels, tr.get("val_fraction", 0.1), tr.get("seed", 0))
    t, v = _pick(t, limit, rng), _pick(v, n_val, rng)
    out = []
    for idx, n_copies in ((t, copies), (v, 0)):
        if len(idx):
            feats = compute_features([clips[i].path for i in idx], cfg.audio, copies=n_copies, seed=seed,
                                     cache_dir=cache_dir)
        else:
            feats = np.zeros((0, 1 + n_copies, cfg.audio.n_frames, cfg.audio.n_features), dtype=np.float32)
        speakers = np.array([clips[i].speaker for i in idx], dtype=object)
        out.append(Examples("audio", labels[idx], audio=feats, audio_labels=labels[idx], speakers=speakers))
    return out[0], out[1]


def _join(mode: str, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> Examples:
    """Examples from (inputs, labels, speakers) parts, in order."""
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    data = np.concatenate([p[0] for p in parts])
    if mode == "image":
        return Examples("image", labels, images=data)
    speakers = np.concatenate([p[2] for p in parts]).astype(str)
    return Examples("audio", labels, audio=data.astype(np.float32), audio_labels=labels, speakers=speakers)


def _digits(model: Path | ModelFolder, mode: str, inputs: np.ndarray, device: str) -> np.ndarray:
    """The digits a model folder gives for preprocessed held-back inputs, through the runtime."""
    from snnapp.core.runtime import open_backend

    backend = open_backend(model, "torch", device)
    res = backend.run(inputs, None) if mode == "image" else backend.run(None, inputs)
    return np.asarray(res.digits, dtype=np.int64)


def personalise(
    base_model: Path, out: Path, data_dir: Path, *,
    audio: list[tuple[np.ndarray, int, int]] | None = None,
    images: list[tuple[np.ndarray, int]] | None = None,
    holdout_per_digit: int = 1, epochs: int = 3, lr: float = 1e-3, public_limit: int | None = 1000,
    public_val: int = 200, repeat_user: int = 16, batch_size: int = 64, progress: Progress | None = None,
    device: str = "cpu", cache_dir: Path | None = None, seed: int = 0,
) -> PersonalResult:
    """Fine-tune the audio or image model ``base_model`` on a person's examples; the result goes to ``out``.

    ``audio``: recordings as (samples ``[n]`` or ``[n, channels]``, sample rate, digit); ``images``:
    drawings as (grayscale image ``[h, w]``, uint8 or float in [0, 1], digit), MNIST-style 28x28 or
    larger (both go through the base model's own preprocessing). ``public_limit``: how many public
    training examples join them (None: all); ``public_val``: size of the public validation slice.
    ``out`` is replaced only when the whole run succeeds; an existing folder there must be a model.
    """
    progress = progress or SilentProgress()
    t0 = time.perf_counter()
    base_model, out, data_dir = Path(base_model), Path(out), Path(data_dir)
    base = load_model(base_model)
    mode = base.config.mode
    if mode not in ("audio", "image"):
        raise ConfigError(f"{base_model}: a {mode} model is not fine-tuned; personalise its audio or image "
                          "model (the branches it was built from) instead")
    given: dict[str, list[Any]] = {"audio": audio or [], "image": images or []}
    if given["audio"] and given["image"]:
        raise ConfigError("give recordings or drawings, not both: a model learns one modality")
    other = "image" if mode == "audio" else "audio"
    if given[other]:
        kind = "recordings" if other == "audio" else "drawings"
        raise ConfigError(f"{base_model} is an {mode} model; it cannot learn from {kind}")
    if not given[mode]:
        raise InputError(f"no {'recordings' if mode == 'audio' else 'drawings'} to learn from")
    if holdout_per_digit < 1:
        raise ConfigError(f"holdout_per_digit must be at least 1 (to measure the result), got {holdout_per_digit}")
    if repeat_user < 1 or public_val < 0 or (public_limit is not None and public_limit < 0):
        raise ConfigError("repeat_user must be at least 1, public_limit and public_val at least 0")
    out = claim_model_folder(out)  # refused now, not after the training, if it is not the project's
    if out.resolve() == base_model.resolve():
        raise ConfigError(f"{out}: is the base model itself; write the personal model to another folder")

    cfg = TrainConfig.of_model(base.config)
    copies = cfg.audio_copies if cfg.augment else 0
    cfg = with_settings(cfg, {"epochs": epochs, "lr": lr, "batch_size": batch_size, "patience": epochs,
                              "seed": seed, "limit": None, "init_from": (str(base_model),)}, "personalisation")
    if mode == "audio":
        progress.message(f"computing the features of {len(given['audio'])} recordings")
        user_x, user_y = _audio_rows(given["audio"], base.config, copies, seed)
    else:
        user_x, user_y = _image_rows(given["image"], base.config)
    tr_idx, ho_idx = _hold_back(user_y, holdout_per_digit, seed)
    progress.message(f"loading public {mode} data from {data_dir}")
    pub_tr, pub_va = _public(mode, base.config, data_dir, public_limit, public_val, copies, seed, cache_dir)

    def rows(ex: Examples) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        x = ex.images if mode == "image" else ex.audio
        assert x is not None  # the public examples of the model's own mode
        return x, ex.labels, ex.speakers

    user_sp = np.full(len(user_y), USER, dtype=object)
    rep = np.tile(tr_idx, repeat_user)
    held = user_x[ho_idx] if mode == "image" else user_x[ho_idx, :1]
    train_ex = _join(mode, [(user_x[rep], user_y[rep], user_sp[rep]), rows(pub_tr)])
    val_ex = _join(mode, [(held, user_y[ho_idx], user_sp[ho_idx]), rows(pub_va)])
    inputs = held.astype(np.float32) / 255.0 if mode == "image" else held[:, 0]
    labels = user_y[ho_idx]
    before = _digits(base, mode, inputs, device)
    progress.message(f"base model: {int((before == labels).sum())}/{len(labels)} held-back examples right; "
                     f"fine-tuning on {len(tr_idx)} of yours (x{repeat_user}) and {len(pub_tr)} public")

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.personal-", dir=out.parent))
    try:
        result = train(cfg, work / "model", data_dir, device=device, progress=progress, cache_dir=cache_dir,
                       examples=(train_ex, val_ex))
        after = _digits(result.model_dir, mode, inputs, device)
        res = PersonalResult(
            out, mode, float((before == labels).mean()), float((after == labels).mean()), labels.tolist(),
            before.tolist(), after.tolist(), len(tr_idx), len(ho_idx), len(pub_tr), len(pub_va),
            time.perf_counter() - t0, result.metrics)
        update_metrics(result.model_dir, {"personalised": {
            "base_model": str(base_model), "holdout_accuracy_before": res.before, "holdout_accuracy_after": res.after,
            "n_user_train": res.n_user_train, "n_user_holdout": res.n_user_holdout, "repeat_user": repeat_user,
            "n_public_train": res.n_public_train, "n_public_val": res.n_public_val}})
        replace_folder(result.model_dir, out, is_model_folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res.seconds = time.perf_counter() - t0
    progress.message(f"held-back accuracy {res.before:.2f} -> {res.after:.2f}; saved {out}")
    return res
