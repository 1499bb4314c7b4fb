"""Training: settings, recipes, data, losses, augmentation and the training loop.

The settings (:class:`TrainConfig`, :mod:`._settings`) and recipes are plain data and import
without torch; the training loop, the losses and the examples (which hold tensors) are imported
when first asked for.
"""

from typing import Any

from ._config import Progress, SilentProgress, TrainConfig, TrainResult
from ._recipe import Recipe, load_recipe, recipe_names, recipe_text, with_settings
from ._settings import Setting, lookup, settings, short_names

#: The names that need torch, and the module each comes from.
_LAZY = {"Examples": "snnapp.core.examples", "load_examples": "snnapp.core.examples",
         "make_batch": "snnapp.core.examples", "leave_one_speaker_out": "._loso", "LOSSES": "._loss",
         "make_loss": "._loss", "mse_count_loss": "._loss", "mse_rate_loss": "._loss",
         "PersonalResult": "._personal", "personalise": "._personal", "complete_network": "._trainer",
         "train": "._trainer"}

__all__ = ["Progress", "SilentProgress", "TrainConfig", "TrainResult", "Recipe", "load_recipe", "recipe_names",
           "recipe_text", "with_settings", "Setting", "lookup", "settings", "short_names", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
