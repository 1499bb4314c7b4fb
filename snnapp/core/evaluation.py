"""Evaluation: accuracy, per class and per speaker, confusion, spike activity and energy.

Energy uses the usual 45 nm figures (Horowitz, ISSCC 2014): 0.9 pJ per accumulate, the cost of
a synaptic operation triggered by a spike, and 4.6 pJ per multiply-accumulate, the cost of layers
fed with real values (direct encoding). The operations are counted from what each layer received
(:func:`~snnapp.core.network.count_energy`), with the examples' encoder deciding whether the
first layers receive spikes or real values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from snnapp.core.encoders import EncoderConfig
from snnapp.core.examples import Examples, load_examples, make_batch
from snnapp.core.modelio import ModelFolder, load_model
from snnapp.core.network import count_energy, decide, probabilities, spiking_inputs

if TYPE_CHECKING:
    from snnapp.core.network._model import SpikingDigitNet

PJ_PER_AC = 0.9
PJ_PER_MAC = 4.6


@dataclass
class Outputs:
    counts: np.ndarray  # [N, 10]
    final_mem: np.ndarray  # [N, 10]
    synops: np.ndarray  # [N]
    spikes: np.ndarray  # [N] all spikes of all layers
    macs: float


@torch.no_grad()
def run_examples(
    net: SpikingDigitNet, ex: Examples, enc: EncoderConfig, device: torch.device, *,
    batch_size: int = 500, use_image: bool = True, use_audio: bool = True, seed: int = 0,
) -> Outputs:
    """Run the network over all examples (no augmentation); one modality may be left out."""
    net.eval()
    T = net.cfg.num_steps
    rng = np.random.default_rng(seed)
    spiking = spiking_inputs(enc)
    parts: list[tuple] = []
    macs = 0.0
    for start in range(0, len(ex), batch_size):
        idx = np.arange(start, min(start + batch_size, len(ex)))
        b = make_batch(ex, idx, T, enc, device, rng=rng)
        out = net(b.image if use_image else None, b.audio if use_audio else None)
        spikes = sum(out.layer_spikes.values())
        energy = count_energy(net.layers, out.activity, spiking)
        parts.append((out.counts.cpu().numpy(), out.out_mem[-1].cpu().numpy(), energy.synops.cpu().numpy(),
                      spikes.cpu().numpy()))
        macs = energy.macs
    counts, final_mem, synops, spikes_ = (np.concatenate(p) for p in zip(*parts))
    return Outputs(counts, final_mem, synops, spikes_, macs=macs)


def summarize(out: Outputs, labels: np.ndarray, temperature: float = 1.0,
              speakers: np.ndarray | None = None) -> dict[str, Any]:
    """Accuracy and the rest from the network's outputs."""
    pred = decide(out.counts, out.final_mem)
    correct = pred == labels
    conf = np.zeros((10, 10), dtype=np.int64)
    np.add.at(conf, (labels, pred), 1)
    per_class = {str(d): float(correct[labels == d].mean()) for d in range(10) if (labels == d).any()}
    prob = probabilities(out.counts, out.final_mem, temperature)
    nll = float(-np.log(np.clip(prob[np.arange(len(labels)), labels], 1e-12, 1)).mean())
    synops = float(out.synops.mean())
    res: dict[str, Any] = {
        "n": int(len(labels)),
        "accuracy": float(correct.mean()),
        "per_class_accuracy": per_class,
        "confusion": conf.tolist(),
        "nll": nll,
        "spikes_per_sample": float(out.spikes.mean()),
        "synops_per_sample": synops,
        "macs_per_sample": float(out.macs),
        "energy_nj_per_sample": (synops * PJ_PER_AC + out.macs * PJ_PER_MAC) / 1000.0,
    }
    if speakers is not None:
        res["per_speaker_accuracy"] = {str(s): float(correct[speakers == s].mean()) for s in np.unique(speakers)}
    return res


def _speakers(ex: Examples) -> np.ndarray | None:
    if ex.speakers is None:
        return None
    return ex.speakers if ex.mode == "audio" else ex.speakers[ex.pairs]


def evaluate_examples(net: SpikingDigitNet, ex: Examples, enc: EncoderConfig, device: torch.device,
                      temperature: float = 1.0, outputs: Outputs | None = None) -> dict[str, Any]:
    """Metrics of one split; for multimodal models also each modality alone through the same model.

    ``outputs``: the network's outputs on ``ex`` with both modalities, when the caller has them."""
    out = outputs if outputs is not None else run_examples(net, ex, enc, device)
    res = summarize(out, ex.labels, temperature, _speakers(ex))
    if ex.mode == "multimodal":
        for name, img, aud in (("image_only", True, False), ("audio_only", False, True)):
            res[name] = summarize(run_examples(net, ex, enc, device, use_image=img, use_audio=aud),
                                  ex.labels, temperature)["accuracy"]
    return res


def _model_and_examples(model: str | Path | ModelFolder, split: str, data_dir: Path, device: str,
                        cache_dir: Path | None, limit: int | None) -> tuple[ModelFolder, SpikingDigitNet, torch.device,
                                                                         Examples]:
    """The model folder, its network on ``device`` and the examples of ``split`` as it was trained on them."""
    from snnapp.core.torch_model import build_net, resolve_device

    folder = model if isinstance(model, ModelFolder) else load_model(model)
    cfg = folder.config
    dev = resolve_device(device)
    tr = cfg.training
    ex = load_examples(cfg.mode, split, data_dir, audio_cfg=cfg.audio, val_fraction=tr.get("val_fraction", 0.1),
                       seed=tr.get("seed", 0), limit=limit, cache_dir=cache_dir)
    return folder, build_net(folder, dev), dev, ex


def evaluate_model(model: str | Path | ModelFolder, split: str, data_dir: Path, *, device: str = "auto",
                   cache_dir: Path | None = None, limit: int | None = None) -> dict[str, Any]:
    """``snnapp evaluate``: the metrics of a model folder on ``split`` (val or test)."""
    folder, net, dev, ex = _model_and_examples(model, split, data_dir, device, cache_dir, limit)
    cfg = folder.config
    res = evaluate_examples(net, ex, cfg.encoder, dev, cfg.temperature)
    res.update(model=str(folder.path), mode=cfg.mode, split=split)
    return res


def evaluate_in_noise(model: str | Path | ModelFolder, data_dir: Path, kinds: tuple[str, ...],
                      snrs: tuple[float, ...], *, device: str = "auto", cache_dir: Path | None = None,
                      limit: int | None = None, seed: int = 0) -> dict[str, Any]:
    """``snnapp evaluate --noise``: the FSDD test accuracy of an audio or multimodal model with each
    noise of ``kinds`` around every word at each SNR of ``snrs`` (dB), as a microphone in a room
    records it (see :mod:`snnapp.core.preprocess._noise`). Babble is mixed from FSDD training
    recordings. A multimodal model hears the noisy words beside its usual test images."""
    from snnapp.core.data import list_fsdd
    from snnapp.core.errors import ConfigError
    from snnapp.core.features import noisy_features, speech_pool
    from snnapp.core.preprocess import AROUND_S, check_kinds
    kinds = check_kinds(kinds)
    if not snrs or not all(np.isfinite(s) and -30 <= s <= 60 for s in snrs):
        raise ConfigError(f"SNRs must be between -30 and 60 dB, got {', '.join(map(str, snrs)) or 'none'}")
    folder = model if isinstance(model, ModelFolder) else load_model(model)
    if folder.config.mode == "image":
        raise ConfigError(f"{folder.path}: an image model hears nothing; noise is for audio and multimodal models")
    folder, net, dev, ex = _model_and_examples(folder, "test", data_dir, device, cache_dir, limit)
    cfg = folder.config
    assert ex.audio is not None
    clips = list_fsdd(data_dir, "test")[: len(ex.audio)]  # the rows of ex.audio, in load_examples' order
    pool = speech_pool([c.path for c in list_fsdd(data_dir, "train")], cfg.audio.sample_rate, seed=seed)
    noisy = noisy_features([c.path for c in clips], cfg.audio, kinds, snrs, pool, seed=seed)
    clean = summarize(run_examples(net, ex, cfg.encoder, dev), ex.labels, cfg.temperature)["accuracy"]
    table: dict[str, dict[str, float]] = {}
    for i, kind in enumerate(kinds):
        table[kind] = {}
        for j, snr in enumerate(snrs):
            ex.audio = noisy[:, i, j, None]
            table[kind][f"{snr:g}"] = summarize(run_examples(net, ex, cfg.encoder, dev), ex.labels,
                                                cfg.temperature)["accuracy"]
    mean = {f"{s:g}": float(np.mean([table[k][f"{s:g}"] for k in kinds])) for s in snrs}
    return {"model": str(folder.path), "mode": cfg.mode, "split": "test", "n": len(ex), "clean": clean,
            "accuracy": table, "mean": mean, "kinds": list(kinds), "snrs": [float(s) for s in snrs],
            "around_s": list(AROUND_S), "seed": seed}
