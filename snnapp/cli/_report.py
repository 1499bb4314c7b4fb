"""Rich rendering of evaluation results."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_evaluation(res: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    from rich.markup import escape

    from snnapp.core.modelio import shown

    console.print(f"[bold]{escape(shown(res['model']))}[/bold] ({res['mode']}), {res['split']} split, {res['n']} examples")
    console.print(f"accuracy [bold]{100 * res['accuracy']:.2f} %[/bold]")
    for key, label in (("image_only", "image alone"), ("audio_only", "audio alone")):
        if key in res:
            console.print(f"  {label} through the same model: {100 * res[key]:.2f} %")
    console.print(f"spikes per sample {res['spikes_per_sample']:.0f}, SynOps per sample {res['synops_per_sample']:.3g}, "
                  f"MACs per sample {res['macs_per_sample']:.3g}, energy {res['energy_nj_per_sample']:.1f} nJ per sample")
    table = Table(title="per class")
    table.add_column("digit")
    table.add_column("accuracy", justify="right")
    table.add_column("confusion row (predicted 0..9)")
    for d, row in enumerate(res["confusion"]):
        acc = res["per_class_accuracy"].get(str(d))
        table.add_row(str(d), "-" if acc is None else f"{100 * acc:.2f} %", " ".join(f"{v:4d}" for v in row))
    console.print(table)
    if "per_speaker_accuracy" in res:
        console.print("per speaker: " + ", ".join(f"{s} {100 * a:.1f} %" for s, a in res["per_speaker_accuracy"].items()))


def print_noise(res: dict[str, Any], console: Console | None = None) -> None:
    """The accuracy per noise kind and SNR, with the clean accuracy and the mean over kinds."""
    console = console or Console()
    table = Table(title=f"FSDD test accuracy with noise around the word ({res['n']} examples, "
                        f"clean {100 * res['clean']:.2f} %)")
    table.add_column("noise")
    for s in res["snrs"]:
        table.add_column(f"{s:g} dB", justify="right")
    for kind, row in res["accuracy"].items():
        table.add_row(kind, *(f"{100 * row[f'{s:g}']:.1f} %" for s in res["snrs"]))
    table.add_row("[bold]mean[/bold]", *(f"[bold]{100 * res['mean'][f'{s:g}']:.1f} %[/bold]" for s in res["snrs"]))
    console.print(table)
