"""Trial -> Recipe: the one code path shared by search, validation and export."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

import optuna

from autokd.recipe import DataSpec
from autokd.recipe import Recipe
from autokd.recipe import TeacherSpec
from autokd.space import SearchSpace

if TYPE_CHECKING:
    from autokd.config import StudyConfig

__all__ = ["PLACEHOLDER_SHA", "recipe_from_trial", "searched_recipes"]

#: Stands in for the teacher's hash while validating a space before the teacher exists.
PLACEHOLDER_SHA = "0" * 64


def recipe_from_trial(
    space: SearchSpace, trial: Any, *, data: DataSpec, teacher: TeacherSpec | None
) -> Recipe:
    """Samples ``space`` with ``trial`` (an Optuna trial or FixedTrial) into a Recipe.

    Raises:
        ConfigError: If the sampled values make an invalid recipe (names the space file).
    """
    nested = space.sample(trial)
    nested["data"] = data.model_dump(mode="json")
    nested["teacher"] = None if teacher is None else teacher.model_dump(mode="json")
    return Recipe.from_dict(nested, file=space.file)


def searched_recipes(
    config: StudyConfig, study: optuna.Study, trials: list[optuna.trial.FrozenTrial]
) -> dict[int, Recipe]:
    """Each finished trial's recipe as it was searched: its params replayed through the
    study's space (auto pairs resolved once), with the study's teacher and split hash.

    Raises:
        ConfigError: If the study or space file no longer validates.
    """
    from autokd.study._check import check_study  # _check imports this module

    space = check_study(config)
    teacher = TeacherSpec.model_validate(study.user_attrs["teacher"])
    data = config.data.model_copy(update={"split_hash": study.user_attrs.get("split_hash")})
    return {
        t.number: recipe_from_trial(
            space, optuna.trial.FixedTrial(t.params), data=data, teacher=teacher
        )
        for t in trials
    }
