"""Training, evaluation and checkpoints, on one machine or several (DDP)."""

from shufflenet.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint, ship_checkpoint
from shufflenet.train.config import RECIPES, TrainConfig, lr_at, recipe, train_size_at
from shufflenet.train.evaluate import EvalResult, evaluate
from shufflenet.train.loop import TrainResult, resume_training, train

__all__ = [
    "RECIPES",
    "EvalResult",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "load_checkpoint",
    "lr_at",
    "model_from_checkpoint",
    "recipe",
    "resume_training",
    "save_checkpoint",
    "ship_checkpoint",
    "train",
    "train_size_at",
]
