"""``train``: fit the network to one mode, with checkpoints, resume and early stopping.

Each epoch's randomness (order, augmentation, pairing, modality dropout) is derived from
``(seed, epoch)``, so a run resumed from a checkpoint continues exactly as if never stopped.
The checkpoint (``<out>.ckpt/checkpoint.pt``) is written atomically after every epoch and read
back with ``weights_only=True``: plain tensors and numbers, never pickled code.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import pickle
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import torch

from snnapp.core.data import draw_pairs
from snnapp.core.encoders import audio_features_per_step, image_channels
from snnapp.core.errors import ConfigError, Hint, ModelError, PathError
from snnapp.core.evaluation import evaluate_examples, run_examples
from snnapp.core.examples import Examples, load_examples, make_batch
from snnapp.core.modelio import (
    ModelConfig,
    claim_folder,
    claim_model_folder,
    disk_error,
    load_model,
    remove_stale,
    save_model,
    shown,
    write_file,
)
from snnapp.core.network import SpikingDigitNet, decide, fit_temperature, spiking_inputs
from snnapp.core.torch_model import resolve_device, weights_of

from ._augment import augment_images, mask_features
from ._config import Progress, SilentProgress, TrainConfig, TrainResult
from ._loss import make_loss


def complete_network(cfg: TrainConfig) -> TrainConfig:
    """Fill in the input sizes that follow from the encoders and the audio features (an image
    model keeps its audio size: its time steps need not divide the audio frames)."""
    net = replace(cfg.network, image_in_channels=image_channels(cfg.encoder.image))
    if net.uses_audio:
        net = replace(net, audio_in_features=audio_features_per_step(
            cfg.encoder.audio, cfg.audio.n_frames, cfg.audio.n_features, cfg.network.num_steps))
    return replace(cfg, network=net)


CHECKPOINT = "checkpoint.pt"


def _checkpoint_dir(out: Path) -> Path:
    return out.with_name(out.name + ".ckpt")


def _is_checkpoint_folder(folder: Path) -> bool:
    """A checkpoint folder this module wrote: nothing in it but the checkpoint and its temporaries."""
    return all(p.name == CHECKPOINT or p.name.startswith(f".{CHECKPOINT}.") for p in folder.iterdir())


@contextlib.contextmanager
def _writing(out: Path) -> Iterator[Path]:
    """Claim the model folder ``out`` and its checkpoint folder for this run, and hold a lock on
    the checkpoint folder while it trains: a second run into the same ``out`` is refused at once
    instead of both writing one checkpoint and both reporting success. Yields the checkpoint folder."""
    ckpt = claim_folder(_checkpoint_dir(out), _is_checkpoint_folder, "checkpoint folder")  # out: claimed by train
    created = not ckpt.exists()
    try:
        ckpt.mkdir(parents=True, exist_ok=True)
        fd = os.open(ckpt, os.O_RDONLY)
    except OSError as exc:
        raise disk_error(ckpt, exc) from exc
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no flock (Windows): concurrent runs into one folder are not detected there
            pass
        except OSError:
            raise PathError(f"{shown(out)}: another snnapp process is training into it now; "
                            "wait for it or choose another folder") from None
        yield ckpt
    except BaseException:
        if created:  # a run that failed before its first checkpoint leaves no empty folder of its own
            with contextlib.suppress(OSError):
                ckpt.rmdir()
        raise
    finally:
        os.close(fd)  # releases the lock


def _save_checkpoint(path: Path, payload: dict) -> None:
    """Serialise in memory, then write atomically: a full disk raises :class:`DiskError`, never
    leaves a half-written checkpoint, and keeps the previous one."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_error(path, exc) from exc
    write_file(path, buffer.getbuffer())


def native_bf16(dev: torch.device) -> bool:
    """Whether ``dev`` computes bfloat16 natively: a CUDA GPU that supports it, or a CPU with
    AVX512-BF16 or AMX. Elsewhere bf16 autocast is emulated, several times slower than fp32 (the
    shipped image recipe trained 0.67x the tutorial loop in bf16, 5.1x in fp32, on an AVX2 CPU)."""
    if dev.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if dev.type != "cpu":
        return False
    cpu = torch.cpu
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(c is not None for c in checks):
        return any(bool(c()) for c in checks if c is not None)
    try:  # torch without those probes: the kernel's CPU flags (Linux)
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, dev: torch.device) -> Literal["fp32", "bf16"]:
    """``precision`` with ``auto`` decided for ``dev``: bf16 where it is native, else fp32."""
    if precision in ("fp32", "bf16"):
        return "bf16" if precision == "bf16" else "fp32"
    return "bf16" if native_bf16(dev) else "fp32"


def _fingerprint(cfg: TrainConfig) -> str:
    d = {"network": cfg.network.to_dict(), "encoder": cfg.encoder.to_dict(), "audio": cfg.audio.to_dict(),
         "image": cfg.image.to_dict(), **{k: v for k, v in cfg.hyper().items() if k not in ("epochs", "patience")}}
    return json.dumps(d, sort_keys=True)


def _init_from(net: SpikingDigitNet, folder: Path) -> int:
    """Copy the weights of a model folder whose names and shapes fit ``net``; returns how many."""
    weights = load_model(folder).weights
    own = net.state_dict()
    fit = {k: torch.from_numpy(v.copy()) for k, v in weights.items() if k in own and tuple(own[k].shape) == v.shape}
    if not fit:
        raise ConfigError(f"{folder}: no weight of this model fits the network being trained")
    net.load_state_dict(fit, strict=False)
    return len(fit)


def _epoch_pairs(train: Examples, rng: np.random.Generator) -> np.ndarray | None:
    if train.mode != "multimodal":
        return None
    assert train.audio_labels is not None  # multimodal examples have both kinds of labels
    return draw_pairs(train.labels, train.audio_labels, rng)


def _masks(cfg: TrainConfig, n: int, rng: np.random.Generator, device: torch.device):
    if cfg.mode != "multimodal" or cfg.modality_dropout <= 0:
        return None, None
    drop = rng.random(n) < cfg.modality_dropout
    which = rng.random(n) < 0.5  # which modality a dropped sample loses
    img = torch.from_numpy(~(drop & which)).to(device, torch.float32)
    aud = torch.from_numpy(~(drop & ~which)).to(device, torch.float32)
    return img, aud


@dataclass
class _RunState:
    """What a checkpoint carries besides the weights: enough to continue as if never stopped."""

    next_epoch: int = 0
    best_acc: float = -1.0
    best_model: dict | None = None
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)
    train_time: float = 0.0


_CHECKPOINT_KEYS = {"fingerprint": str, "epoch": int, "model": dict, "optimizer": dict, "scheduler": dict,
                    "best_acc": float, "best_model": dict, "bad_epochs": int, "history": str, "train_time": float}


def _read_checkpoint(path: Path, cfg: TrainConfig, dev: torch.device) -> dict:
    """A checkpoint of this run, read as data only (tensors, numbers, strings), never as code;
    checked before any data is loaded, so a wrong one is refused at once."""
    advice = (Hint("delete", str(path.parent)), Hint("resume"))
    try:
        with warnings.catch_warnings():  # torch's note on pickle protocols of foreign files
            warnings.simplefilter("ignore", UserWarning)
            ck = torch.load(path, map_location=dev, weights_only=True)
    except pickle.UnpicklingError:
        raise ModelError(f"{path}: refused, it holds objects other than tensors and numbers (loading it could "
                         "run code); not a checkpoint written by snnapp train", hint=advice) from None
    except Exception as exc:  # a damaged zip or pickle: RuntimeError, EOFError, ValueError, ...
        raise ModelError(f"{path}: not a readable checkpoint ({type(exc).__name__})", hint=advice) from None
    bad = [k for k, t in _CHECKPOINT_KEYS.items()
           if not isinstance(ck, dict) or not isinstance(ck.get(k), t) or isinstance(ck.get(k), bool)]
    if bad:
        raise ModelError(f"{path}: not a checkpoint of snnapp train (missing or wrong {', '.join(bad)})", hint=advice)
    if ck["fingerprint"] != _fingerprint(cfg):
        raise ConfigError(f"{path}: the checkpoint belongs to a run with other settings",
                          hint=(Hint("resume"), Hint("out")))
    return ck


def _restore(path: Path, ck: dict, net, opt, sched, steps_per_epoch: int) -> _RunState:
    """Put a checkpoint's weights, optimiser and schedule in place; what else it carries."""
    planned = ck["scheduler"].get("total_steps") if isinstance(ck["scheduler"], dict) else None
    if isinstance(planned, int) and planned != sched.total_steps:
        raise ConfigError(f"{shown(path)}: the interrupted run was planned for {planned // steps_per_epoch} epochs, "
                          f"this one for {sched.total_steps // steps_per_epoch}; its learning-rate schedule "
                          "spans the planned epochs, so resume with the same number of epochs, or start afresh "
                          "without resuming")
    try:
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        history = json.loads(ck["history"])
        shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        if {k: tuple(v.shape) for k, v in ck["best_model"].items()} != shapes:
            raise ValueError("its best weights do not fit the network")
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"{path}: damaged checkpoint ({type(exc).__name__}: {str(exc)[:200]})",
                         hint=(Hint("delete", str(path.parent)), Hint("resume"))) from None
    return _RunState(ck["epoch"] + 1, ck["best_acc"], ck["best_model"], ck["bad_epochs"], history, ck["train_time"])


def _train_epoch(cfg: TrainConfig, epoch: int, net, opt, sched, loss_fn, train_ex: Examples,
                 dev: torch.device, progress: Progress) -> dict:
    """One pass over the training examples; every random choice derives from (seed, epoch)."""
    rng = np.random.default_rng([cfg.seed, epoch])
    aug_gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    torch.manual_seed(cfg.seed * 100_019 + epoch)  # dropout: resumed runs repeat it exactly
    pairs = _epoch_pairs(train_ex, rng)
    order = rng.permutation(len(train_ex))
    image_aug = (lambda x: augment_images(x, aug_gen)) if cfg.augment else None
    blocks = 2 if cfg.audio.deltas else 1  # the MFCC, then their deltas
    audio_aug = (lambda f, r: mask_features(f, r, cfg.feature_masks, blocks)) if cfg.augment and cfg.feature_masks \
        else None
    batches = (len(train_ex) + cfg.batch_size - 1) // cfg.batch_size
    net.train()
    progress.epoch_start(epoch, cfg.epochs, batches)
    t0, seen, tot_loss, tot_ok = time.perf_counter(), 0, 0.0, 0
    for s in range(batches):
        idx = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
        b = make_batch(train_ex, idx, cfg.network.num_steps, cfg.encoder, dev, pairs=pairs, rng=rng,
                       image_aug=image_aug, audio_aug=audio_aug)
        m_img, m_aud = _masks(cfg, len(idx), rng, dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            res = net(b.image, b.audio, m_img, m_aud)
        loss = loss_fn(res.counts.float(), b.labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        value = loss.item()
        if not np.isfinite(value):  # NaN weights never recover: stop now, not after every epoch
            raise ModelError(f"the training diverged: the loss became {value} in epoch {epoch + 1} (a lower "
                             "learning rate may help); nothing was saved")
        seen += len(idx)
        tot_loss += value * len(idx)
        tot_ok += int((res.counts.argmax(1) == b.labels).sum())
        progress.batch_end(value, tot_ok / seen, seen / (time.perf_counter() - t0))
    dt = time.perf_counter() - t0
    return {"epoch": epoch, "loss": tot_loss / seen, "train_accuracy": tot_ok / seen, "samples_per_s": seen / dt,
            "epoch_time_s": dt, "lr": sched.get_last_lr()[0]}


def train(
    cfg: TrainConfig, out: str | Path, data_dir: Path, *, device: str = "auto", resume: bool = False,
    progress: Progress | None = None, cache_dir: Path | None = None,
    examples: tuple[Examples, Examples] | None = None, record: dict | None = None,
) -> TrainResult:
    """Train, keep the weights of the best validation epoch, and save them as a model folder.

    ``out`` must be absent, an empty folder or a model folder (refused before any work
    otherwise); it is replaced only by a model that loads. ``examples`` (train, val) replaces the
    standard splits, e.g. for leave-one-speaker-out; ``record`` joins the metrics (e.g. the command).
    """
    progress = progress or SilentProgress()
    cfg = complete_network(cfg)
    dev = resolve_device(device)
    cfg = replace(cfg, precision=resolve_precision(cfg.precision, dev))  # the model records what ran
    out = claim_model_folder(out)
    with _writing(out) as ckpt:
        return _train(cfg, out, ckpt / CHECKPOINT, data_dir, dev, resume, progress, cache_dir, examples, record or {})


def _train(cfg: TrainConfig, out: Path, ckpt_path: Path, data_dir: Path, dev: torch.device, resume: bool,
           progress: Progress, cache_dir: Path | None, examples: tuple[Examples, Examples] | None,
           record: dict) -> TrainResult:
    checkpoint = _read_checkpoint(ckpt_path, cfg, dev) if resume and ckpt_path.exists() else None
    torch.manual_seed(cfg.seed)
    if examples is None:
        kw: dict[str, Any] = dict(audio_cfg=cfg.audio, val_fraction=cfg.val_fraction, seed=cfg.seed,
                                  cache_dir=cache_dir, limit=cfg.limit)
        progress.message(f"loading {cfg.mode} data from {data_dir}")
        train_ex = load_examples(cfg.mode, "train", data_dir, audio_copies=cfg.audio_copies if cfg.augment else 0, **kw)
        val_ex = load_examples(cfg.mode, "val", data_dir, **kw)
    else:
        train_ex, val_ex = examples

    net = SpikingDigitNet(cfg.network, spiking_inputs(cfg.encoder)).to(dev)
    for folder in cfg.init_from:
        progress.message(f"initialised {_init_from(net, Path(folder))} tensors from {folder}")
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = (len(train_ex) + cfg.batch_size - 1) // cfg.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.15)
    loss_fn = make_loss(cfg.loss, cfg.network.num_steps, cfg.correct_rate, cfg.incorrect_rate)
    remove_stale(ckpt_path.parent, ckpt_path.name)  # temporary files of a run that was killed
    st = _RunState()
    if checkpoint is not None:
        st = _restore(ckpt_path, checkpoint, net, opt, sched, steps_per_epoch)
        del checkpoint
        progress.message(f"resumed from {ckpt_path} after epoch {st.next_epoch}")

    for epoch in range(st.next_epoch, cfg.epochs):
        if st.bad_epochs >= cfg.patience:
            break
        row = _train_epoch(cfg, epoch, net, opt, sched, loss_fn, train_ex, dev, progress)
        st.train_time += row["epoch_time_s"]
        val = run_examples(net, val_ex, cfg.encoder, dev)
        row["val_accuracy"] = float((decide(val.counts, val.final_mem) == val_ex.labels).mean())
        # Of equally good epochs the latest is kept: it has seen more augmented data at a lower
        # learning rate, and generalises better to voices it never heard. Only a strict
        # improvement resets the patience.
        if row["val_accuracy"] >= st.best_acc:
            st.bad_epochs = 0 if row["val_accuracy"] > st.best_acc else st.bad_epochs + 1
            st.best_acc, st.best_model = row["val_accuracy"], copy.deepcopy(net.state_dict())
        else:
            st.bad_epochs += 1
        st.history.append(row)
        st.next_epoch = epoch + 1
        progress.epoch_end(epoch, row)
        _save_checkpoint(ckpt_path, {
            "fingerprint": _fingerprint(cfg), "epoch": epoch, "model": net.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "best_acc": st.best_acc, "best_model": st.best_model,
            "bad_epochs": st.bad_epochs, "history": json.dumps(st.history), "train_time": st.train_time})
    return _finish(cfg, out, net, st, val_ex, dev, progress, record)


def _latest_best(history: list[dict]) -> int:
    """Index of the epoch whose weights were kept: the latest of the best validation accuracy."""
    acc = np.array([h["val_accuracy"] for h in history])
    return int(np.flatnonzero(acc == acc.max())[-1])


def _finish(cfg: TrainConfig, out: Path, net: SpikingDigitNet, st: _RunState, val_ex: Examples,
            dev: torch.device, progress: Progress, record: dict) -> TrainResult:
    """Best weights, a readout temperature fitted on validation data, metrics, the model folder."""
    net.load_state_dict(st.best_model)
    net.eval()
    val = run_examples(net, val_ex, cfg.encoder, dev)
    temperature = fit_temperature(val.counts, val.final_mem, val_ex.labels)
    metrics = {"mode": cfg.mode, "val": evaluate_examples(net, val_ex, cfg.encoder, dev, temperature, outputs=val),
               "history": st.history, "train_time_s": st.train_time, "epochs_run": len(st.history),
               "best_epoch": _latest_best(st.history), "device": str(dev),
               "torch": torch.__version__, **record}
    model_cfg = ModelConfig(network=cfg.network, encoder=cfg.encoder, audio=cfg.audio, image=cfg.image,
                            temperature=temperature, training=cfg.hyper())
    save_model(out, model_cfg, weights_of(net), metrics, card=True)
    progress.message(f"saved {out} (validation accuracy {metrics['val']['accuracy']:.4f})")
    return TrainResult(out, metrics)
