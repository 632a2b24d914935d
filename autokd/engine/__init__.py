"""The engine: trains one recipe; feature taps, batched augmentation, schedules, teacher cache."""

from autokd.engine._augment import crop_flip
from autokd.engine._augment import cutout
from autokd.engine._augment import draw_epoch
from autokd.engine._augment import epoch_generator
from autokd.engine._cache import CacheStats
from autokd.engine._cache import TeacherCache
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
    "CacheStats",
    "EpochCallback",
    "FeatureTaps",
    "TeacherCache",
    "TrainResult",
    "crop_flip",
    "cutout",
    "draw_epoch",
    "epoch_generator",
    "build_schedule",
    "evaluate_accuracy",
    "load_teacher",
    "resolve_device",
    "train_recipe",
]
