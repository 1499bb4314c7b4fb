"""Rich progress bars for training: the rendering half of the CLI, apart from its logic."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RichTrainingProgress:
    """Implements :class:`snnapp.core.training.Progress` with one bar per epoch."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.3f}  {task.fields[sps]:.0f} samples/s"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> "RichTrainingProgress":
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        self._task = self._bar.add_task("train", total=batches, epoch=f"{epoch + 1}/{epochs}", loss=0.0, acc=0.0, sps=0.0)

    def batch_end(self, loss: float, accuracy: float, samples_per_s: float) -> None:
        assert self._task is not None, "batch_end before epoch_start"
        self._bar.update(self._task, advance=1, loss=loss, acc=accuracy, sps=samples_per_s)

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self._bar.console.print(
            f"epoch {epoch + 1}: loss {metrics['loss']:.4f}, train {metrics['train_accuracy']:.4f}, "
            f"validation {metrics['val_accuracy']:.4f}, {metrics['samples_per_s']:.0f} samples/s")

    def message(self, text: str) -> None:
        self._bar.console.print(text)
