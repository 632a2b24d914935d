"""The Recipe: frozen, validated, YAML round-trip, schema-versioned."""

from autokd.recipe._recipe import SCHEMA_VERSION
from autokd.recipe._recipe import Recipe
from autokd.recipe._recipe import TeacherSpec
from autokd.recipe._specs import AugmentSpec
from autokd.recipe._specs import DataSpec
from autokd.recipe._specs import DistillSpec
from autokd.recipe._specs import ModelSpec
from autokd.recipe._specs import OptimSpec
from autokd.recipe._specs import ScheduleSpec
from autokd.recipe._specs import TermSpec
from autokd.recipe._specs import split_pairs

__all__ = [
    "SCHEMA_VERSION",
    "AugmentSpec",
    "DataSpec",
    "DistillSpec",
    "ModelSpec",
    "OptimSpec",
    "Recipe",
    "ScheduleSpec",
    "TeacherSpec",
    "TermSpec",
    "split_pairs",
]
