"""Export the best trial of a study as a recipe that re-trains by itself."""

from __future__ import annotations

import datetime
from pathlib import Path

import optuna
from optuna.trial import TrialState

import autokd
from autokd.config import StudyConfig
from autokd.exceptions import AutokdError
from autokd.exceptions import ConfigError
from autokd.recipe import Recipe
from autokd.recipe import TeacherSpec
from autokd.study._factories import open_storage

__all__ = ["export_best", "load_study"]


def load_study(config: StudyConfig, storage: str | None = None) -> optuna.Study:
    """Opens the study's storage without creating anything.

    Raises:
        AutokdError: If the storage or the study does not exist yet.
    """
    url = config.storage_url(storage)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise ConfigError(
            "study.storage",
            "an existing study (run `autokd run` first)",
            f"no database at {url.removeprefix('sqlite:///')}",
            file=config.file,
        )
    try:
        return optuna.load_study(study_name=config.study.name, storage=open_storage(url))
    except KeyError:
        raise ConfigError(
            "study.name",
            f"a study stored in {url.split('?')[0]}",
            repr(config.study.name),
            file=config.file,
            hint="Run `autokd run` first.",
        ) from None


def export_best(
    config: StudyConfig, *, storage: str | None = None, as_searched: bool = False
) -> Recipe:
    """The best trial's recipe, rebuilt by replaying its params through the search space.

    The study file's ``final`` fields (a longer training, say) replace the searched ones
    unless ``as_searched``; the searched optimisation is then kept in the provenance. The
    recipe's ``provenance`` records the study, trial number, MLflow run id, autokd version and
    the trial's validation accuracy; ``data.split_hash`` pins the split the search used.

    Raises:
        AutokdError: If the study has no completed trial.
    """
    from autokd.study._check import check_study
    from autokd.study._recipes import recipe_from_trial

    study = load_study(config, storage)
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        raise AutokdError(
            f"{config.file}: study '{config.study.name}' has no completed trial yet."
        )
    best = study.best_trial
    space = check_study(config)  # the same space the search used, auto pairs resolved
    teacher = TeacherSpec.model_validate(study.user_attrs["teacher"])
    data = config.data.model_copy(update={"split_hash": study.user_attrs.get("split_hash")})
    recipe = recipe_from_trial(
        space, optuna.trial.FixedTrial(best.params), data=data, teacher=teacher
    )
    final = config.final
    searched = recipe.to_dict()
    if not as_searched and (final.optim or final.augment):
        recipe = Recipe.from_dict(final.apply(searched), file=f"{config.file} (final)")
    provenance = {
        "study": config.study.name,
        "study_file": str(config.file),
        "trial": best.number,
        "val_acc": best.value,
        "student_params": best.user_attrs.get("student_params"),
        "extra_params": best.user_attrs.get("extra_params"),
        "mlflow_run_id": best.user_attrs.get("mlflow_run_id"),
        "mlflow_tracking_uri": study.user_attrs.get("mlflow_tracking_uri"),
        "autokd_version": autokd.__version__,
        **(
            {"searched_optim": searched["optim"], "searched_augment": searched["augment"]}
            if recipe.to_dict() != searched
            else {}
        ),
        "exported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return recipe.model_copy(update={"provenance": provenance})
