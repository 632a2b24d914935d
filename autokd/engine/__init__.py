"""The engine: trains one recipe; feature taps, batched augmentation and schedules."""

from autokd.engine._augment import crop_flip
from autokd.engine._augment import cutout
from autokd.engine._augment import epoch_generator
from autokd.engine._device import resolve_device
from autokd.engine._schedules import SCHEDULES
from autokd.engine._schedules import BaseSchedule
from autokd.engine._schedules import build_schedule
from autokd.engine._taps import FeatureTaps
from autokd.engine._trainer import EpochCallback
from autokd.engine._trainer import TrainResult
from autokd.engine._trainer import evaluate_accuracy
from autokd.engine._trainer import load_teacher
from autokd.engine._trainer import train_recipe

__all__ = [
    "SCHEDULES",
    "BaseSchedule",
    "EpochCallback",
    "FeatureTaps",
    "TrainResult",
    "crop_flip",
    "cutout",
    "epoch_generator",
    "build_schedule",
    "evaluate_accuracy",
    "load_teacher",
    "resolve_device",
    "train_recipe",
]
