"""Studies: objective, sampler/pruner factories, teacher cache, create/resume and optimise."""

from autokd.study._check import check_study
from autokd.study._factories import PRUNERS
from autokd.study._factories import SAMPLERS
from autokd.study._optimize import counted_trials
from autokd.study._optimize import prepare_study
from autokd.study._optimize import run_study
from autokd.study._optimize import study_teacher_cache
from autokd.study._recipes import recipe_from_trial
from autokd.study._resolution import study_validation_note
from autokd.study._storage import mask_url
from autokd.study._teacher import ensure_teacher
from autokd.study._worker import run_worker
from autokd.study._worker import run_workers

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "check_study",
    "counted_trials",
    "ensure_teacher",
    "mask_url",
    "prepare_study",
    "recipe_from_trial",
    "run_study",
    "run_worker",
    "run_workers",
    "study_teacher_cache",
    "study_validation_note",
]
