"""Pruning: stop hopeless trials early from their per-epoch validation accuracy.

The training loop reports each epoch through the core's ``Progress`` protocol; the adapter here
passes the validation accuracy to the trial and raises ``TrialPruned``, which leaves ``train``
like any exception and ends the trial as pruned.
"""

from __future__ import annotations

from typing import Any

import optuna

from snnapp.core.errors import ConfigError

PRUNERS = ("median", "hyperband", "none")


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """``median`` (prune below the median of earlier trials at the same epoch), ``hyperband`` or ``none``."""
    if name == "median":
        # give every trial one epoch, and let the first few trials run to the end as a yardstick
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1 if epochs > 1 else 0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1), reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}")


class PruningProgress:
    """Implements the core's ``Progress``: reports validation accuracy, prunes, and forwards to ``inner``."""

    def __init__(self, trial: optuna.Trial, prune: bool, inner: Any = None) -> None:
        self.trial = trial
        self.prune = prune
        self.inner = inner
        self.epochs_run = 0

    def epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        if self.inner is not None:
            self.inner.epoch_start(epoch, epochs, batches)

    def batch_end(self, loss: float, accuracy: float, samples_per_s: float) -> None:
        if self.inner is not None:
            self.inner.batch_end(loss, accuracy, samples_per_s)

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self.epochs_run = epoch + 1
        if self.inner is not None:
            self.inner.epoch_end(epoch, metrics)
        if not self.prune:
            return
        self.trial.report(float(metrics["val_accuracy"]), epoch)
        if self.trial.should_prune():
            self.trial.set_user_attr("epochs_run", epoch + 1)
            raise optuna.TrialPruned(f"validation accuracy {metrics['val_accuracy']:.4f} after epoch {epoch + 1}")

    def message(self, text: str) -> None:
        if self.inner is not None:
            self.inner.message(text)
