"""The model card: what a model folder holds, how it was made, and how well it does.

Generated from the folder's own ``config.json`` and ``metrics.json``, so it never disagrees with
them; rewritten whenever metrics are recorded. Text from the metrics (the command that trained
the model holds argv as given, which may be any bytes) is shown as :func:`shown` shows a file
name: bytes that are not UTF-8 as ``\\xNN``, control characters escaped, so the card is valid
UTF-8 and each of its lines stays one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snnapp.core.modelio import WEIGHTS, ModelConfig, sha256_file, shown

CARD = "MODEL_CARD.md"

_DATA = {
    "image": "MNIST (60,000 training images, 10% held out for validation; test: the 10,000 t10k images)",
    "audio": "Free Spoken Digit Dataset v1.0.10 (takes 5-49 for training, 10% held out for validation; "
             "test: takes 0-4, 300 recordings of 6 speakers)",
    "multimodal": "MNIST images paired with FSDD recordings of the same digit (training pairs drawn afresh each "
                  "epoch; validation and test pairs fixed by the seed: every MNIST test image with an FSDD test "
                  "recording of its digit)",
}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def render_card(folder: Path, config: ModelConfig, metrics: dict[str, Any]) -> str:
    net, tr = config.network, config.training
    what = {"image": "handwritten", "audio": "spoken"}.get(config.mode, "handwritten and spoken")
    lines = [f"# snnapp {config.mode} model", "",
             "A spiking neural network (leaky integrate-and-fire neurons, surrogate-gradient training) "
             f"that recognises {what} digits.",
             "", "## Data", "", _DATA[config.mode], "", "## How it was made", ""]
    if metrics.get("recipe"):
        lines += [f"Recipe `{metrics['recipe']}`, each option of the command changing one of its settings:", ""]
    if metrics.get("command"):
        lines += ["```sh", metrics["command"], "```", ""]
    lines += [f"- seed {tr.get('seed')}, {metrics.get('epochs_run')} epochs run (best at epoch {metrics.get('best_epoch', 0) + 1}), "
              f"training time {metrics.get('train_time_s', 0) / 60:.1f} min on {metrics.get('device')} (torch {metrics.get('torch')})",
              f"- loss {tr.get('loss')} (correct rate {tr.get('correct_rate')}, incorrect rate {tr.get('incorrect_rate')}), "
              f"learning rate {tr.get('lr')}, batch {tr.get('batch_size')}, augmentation {'on' if tr.get('augment') else 'off'}",
              f"- {net.num_steps} time steps, {net.neuron} neurons (beta {net.beta}, threshold {net.threshold}), "
              f"encoders image={config.encoder.image}, audio={config.encoder.audio}", ""]
    if net.uses_image:
        conv = [f"conv {c}c{net.image_kernel}" for c in net.image_channels]
        layers = [f"{c} - pool - spikes" if net.pool_before_spike else f"{c} - spikes - pool" for c in conv]
        lines.append(f"- image branch: {' - '.join(layers)} - fc {net.image_hidden}")
    if net.uses_audio:
        lines.append(f"- audio branch: {config.audio.n_frames} frames of {config.audio.n_mfcc} MFCC"
                     f"{' and their deltas' if config.audio.deltas else ''}, "
                     f"fc {' - '.join(str(h) for h in net.audio_hidden)}")
    lines += ["- fusion: both branches' spikes drive the same 10 output neurons", ""]
    lines += _settings(config)
    lines += ["## Results", "",
              "| split | examples | accuracy | image alone | audio alone | spikes / sample | SynOps / sample | energy / sample |",
              "|---|---|---|---|---|---|---|---|"]
    for split in ("val", "test"):
        m = metrics.get(split)
        if m:
            lines.append(f"| {split} | {m['n']} | {_pct(m['accuracy'])} | {_pct(m.get('image_only'))} | "
                         f"{_pct(m.get('audio_only'))} | {m['spikes_per_sample']:.0f} | {m['synops_per_sample']:.3g} | "
                         f"{m['energy_nj_per_sample']:.1f} nJ |")
    test = metrics.get("test", {})
    if "per_speaker_accuracy" in test:
        lines += ["", "Per speaker (test): " + ", ".join(f"{s} {_pct(a)}" for s, a in test["per_speaker_accuracy"].items())]
    if "loso" in metrics:
        lo = metrics["loso"]
        lines += ["", f"Leave-one-speaker-out (trained on five speakers, tested on the sixth): mean {_pct(lo['mean_accuracy'])}; "
                  + ", ".join(f"{s} {_pct(a)}" for s, a in lo["per_speaker"].items())]
    if "noise" in metrics:
        lines += ["", *noise_table(metrics["noise"])]
    lines += ["", "Energy: 0.9 pJ per synaptic operation (accumulate) and 4.6 pJ per multiply-accumulate of "
              "layers fed real values (45 nm figures).", "", "## Files", "",
              f"- `{WEIGHTS}` sha256 `{sha256_file(folder / WEIGHTS)}`",
              "- `manifest.json` holds the sha256 of every file; loading verifies them.", ""]
    return "\n".join(shown(line) for line in lines)


def noise_table(res: dict[str, Any]) -> list[str]:
    """The lines of a Markdown table of ``snnapp evaluate --noise``: accuracy per noise and SNR."""
    snrs = [f"{s:g}" for s in res["snrs"]]
    lines = [f"In a noisy room (`snnapp evaluate --noise`: FSDD test, {res['n']} words, the noise "
             f"{res['around_s'][0]:g}-{res['around_s'][1]:g} s before and after each word and under it; "
             f"clean {_pct(res['clean'])}):", "",
             "| noise | " + " | ".join(f"{s} dB" for s in snrs) + " |", "|---|" + "---:|" * len(snrs)]
    for kind, row in res["accuracy"].items():
        lines.append(f"| {kind} | " + " | ".join(_pct(row[s]) for s in snrs) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{_pct(res['mean'][s])}**" for s in snrs) + " |")
    return lines


def _settings(config: ModelConfig) -> list[str]:
    """The settings that differ from their defaults, by name, with what each is (from the settings'
    own declarations, so a new setting appears here without an edit)."""
    from snnapp.core.errors import ConfigError
    from snnapp.core.training import TrainConfig
    from snnapp.core.training._settings import differences, value_text

    try:
        changed = differences(TrainConfig.of_model(config))
    except ConfigError:  # training settings of a newer or older snnapp: the rest of the card stands
        return []
    if not changed:
        return []
    rows = [f"| `{s.name}` | {value_text(v)} | {s.help} |" for s, v in changed]
    return ["Settings other than the defaults:", "", "| setting | value | what it is |", "|---|---|---|", *rows, ""]


def write_card(folder: str | Path) -> Path:
    """(Re)write ``MODEL_CARD.md`` from the folder's config and metrics, and refresh the manifest."""
    from snnapp.core.modelio import load_model, write_file, write_manifest

    folder = Path(folder)
    model = load_model(folder)
    path = folder / CARD
    write_file(path, render_card(folder, model.config, model.metrics).encode("utf-8"))
    write_manifest(folder)
    return path
