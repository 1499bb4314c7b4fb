"""Training: settings, data, losses, augmentation and the training loop."""

from snnapp.core.examples import Examples, load_examples, make_batch

from ._config import Progress, SilentProgress, TrainConfig, TrainResult
from ._loso import leave_one_speaker_out
from ._loss import LOSSES, make_loss, mse_count_loss, mse_rate_loss
from ._personal import PersonalResult, personalise
from ._recipe import Recipe, load_recipe, recipe_names, with_settings
from ._trainer import complete_network, train

__all__ = ["Examples", "Progress", "SilentProgress", "TrainConfig", "TrainResult", "complete_network",
           "leave_one_speaker_out", "load_examples", "make_batch", "LOSSES", "make_loss", "mse_count_loss", "mse_rate_loss", "train",
           "PersonalResult", "personalise", "Recipe", "load_recipe", "recipe_names", "with_settings"]
