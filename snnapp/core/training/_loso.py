"""Leave-one-speaker-out: how well an audio configuration hears a voice it never heard.

FSDD's official split shares its six speakers between training and test, which flatters every
model. Here each speaker in turn is held out: the network is trained on the other five (all their
takes, a validation part carved out for model selection) and tested on every recording of the
held-out speaker.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from snnapp.core.data import FSDD_SPEAKERS
from snnapp.core.errors import ConfigError
from snnapp.core.evaluation import evaluate_examples
from snnapp.core.examples import load_examples
from snnapp.core.modelio import load_model

from ._config import Progress, SilentProgress, TrainConfig
from ._trainer import train


def leave_one_speaker_out(
    cfg: TrainConfig, data_dir: Path, *, device: str = "auto", cache_dir: Path | None = None,
    progress: Progress | None = None, speakers: tuple[str, ...] = FSDD_SPEAKERS,
) -> dict[str, Any]:
    """Accuracy on each held-out speaker, and their mean (all six speakers unless ``speakers``
    names fewer, for a quicker probe)."""
    from snnapp.core.torch_model import build_net, resolve_device

    if cfg.mode != "audio":
        raise ConfigError("leave-one-speaker-out applies to audio models")
    unknown = [s for s in speakers if s not in FSDD_SPEAKERS]
    if unknown or not speakers:
        raise ConfigError(f"leave-one-speaker-out: {', '.join(unknown) or 'no speaker'} given; "
                          f"FSDD's speakers are {', '.join(FSDD_SPEAKERS)}")
    progress = progress or SilentProgress()
    per_speaker: dict[str, float] = {}
    dev = resolve_device(device)
    for spk in speakers:
        kw: dict[str, Any] = dict(audio_cfg=cfg.audio, val_fraction=cfg.val_fraction, seed=cfg.seed,
                                  cache_dir=cache_dir, held_out_speaker=spk)
        tr = load_examples("audio", "train", data_dir, audio_copies=cfg.audio_copies if cfg.augment else 0, **kw)
        va = load_examples("audio", "val", data_dir, **kw)
        te = load_examples("audio", "test", data_dir, **kw)
        progress.message(f"held out {spk}: training on {len(tr)} recordings of the other speakers")
        with tempfile.TemporaryDirectory(prefix="snnapp-loso-") as tmp:
            result = train(cfg, Path(tmp) / "model", data_dir, device=device, progress=progress, examples=(tr, va))
            folder = load_model(result.model_dir)
            res = evaluate_examples(build_net(folder, dev), te, folder.config.encoder, dev, folder.config.temperature)
        per_speaker[spk] = res["accuracy"]
        progress.message(f"held out {spk}: accuracy {res['accuracy']:.4f}")
    return {"per_speaker": per_speaker, "mean_accuracy": float(np.mean(list(per_speaker.values())))}
