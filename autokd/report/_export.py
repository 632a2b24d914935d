"""Export the best trial (or the Pareto set) of a study as recipes that re-train by themselves."""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

import optuna
from optuna.trial import TrialState

import autokd
from autokd.config import StudyConfig
from autokd.exceptions import AutokdError
from autokd.exceptions import ConfigError
from autokd.logging import get_logger
from autokd.recipe import Recipe
from autokd.study._factories import open_storage
from autokd.study._storage import mask_url

__all__ = ["export_best", "export_pareto", "export_trial", "load_study"]

_logger = get_logger(__name__)


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
            f"a study stored in {mask_url(url).split('?')[0]}",
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
    When the study holds a ``final_eval`` record, its winner is exported instead of
    ``study.best_trial``, and the provenance gets the record's summary under ``final_eval``.

    Raises:
        AutokdError: If the study has no completed trial, or has several objectives (then
            there is no one best trial: use :func:`export_pareto`).
    """
    study = load_study(config, storage)
    _require_complete(config, study)
    if len(study.directions) > 1:
        raise AutokdError(
            f"{config.file}: study '{config.study.name}' has {len(study.directions)} "
            "objectives, so no single best trial; export its Pareto set with "
            "`autokd export STUDY --pareto -o DIR`."
        )
    final_eval = study.user_attrs.get("final_eval")
    if not final_eval:
        return export_trial(config, study, study.best_trial, as_searched=as_searched)
    return _export_final_eval_winner(config, study, final_eval, as_searched=as_searched)


def _export_final_eval_winner(
    config: StudyConfig, study: optuna.Study, final_eval: dict, *, as_searched: bool
) -> Recipe:
    """The final evaluation's winner (not the luckiest single run), with its summary."""
    from autokd.study._final_eval import candidate_trials

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    done = [c["trial"] for c in final_eval["candidates"]]
    if done != [t.number for t in candidate_trials(study, final_eval["top_k"])]:
        _logger.warning(
            "study '%s' has new top trials since its final_eval: rerun `autokd run` to redo it",
            config.study.name,
        )
    recipe = export_trial(config, study, trials[final_eval["winner"]], as_searched=as_searched)
    keys = ("winner", "val_mean", "val_std", "test_mean", "test_std", "seeds")
    summary = {key: final_eval[key] for key in keys}
    summary["candidates"] = done
    return recipe.model_copy(update={"provenance": {**recipe.provenance, "final_eval": summary}})


def export_trial(
    config: StudyConfig,
    study: optuna.Study,
    trial: optuna.trial.FrozenTrial,
    *,
    as_searched: bool = False,
    searched: Recipe | None = None,
) -> Recipe:
    """The recipe of one finished ``trial`` of ``study``, with provenance (see export_best).

    ``searched`` is the trial's recipe as searched when the caller already rebuilt it.
    """
    if searched is None:
        from autokd.study._recipes import searched_recipes

        searched = searched_recipes(config, study, [trial])[trial.number]
    recipe, final = searched, config.final
    searched_dict = searched.to_dict()
    if not as_searched and (final.optim or final.augment or final.data):
        recipe = Recipe.from_dict(final.apply(searched_dict), file=f"{config.file} (final)")
        if final.data:
            recipe = _with_split_hash(recipe)
    attrs = trial.user_attrs
    costs = {key: attrs[key] for key in ("student_macs", "student_latency_ms") if key in attrs}
    provenance = {
        "study": config.study.name,
        "study_file": str(config.file),
        "trial": trial.number,
        "val_acc": trial.values[0] if trial.values else None,
        "student_params": attrs.get("student_params"),
        "extra_params": attrs.get("extra_params"),
        **costs,
        "mlflow_run_id": attrs.get("mlflow_run_id"),
        "mlflow_tracking_uri": study.user_attrs.get("mlflow_tracking_uri"),
        "autokd_version": autokd.__version__,
        **(
            {
                "searched_optim": searched_dict["optim"],
                "searched_augment": searched_dict["augment"],
                **_fidelity(searched, recipe),
            }
            if recipe.to_dict() != searched_dict
            else {}
        ),
        "exported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return recipe.model_copy(update={"provenance": provenance})


def _with_split_hash(recipe: Recipe) -> Recipe:
    """The recipe with ``data.split_hash`` of its own (final) split, read from the files."""
    from autokd.data import load_splits

    digest = load_splits(recipe.data).split_hash  # MissingFileError if the files are gone
    data = recipe.data.model_copy(update={"split_hash": digest})
    return recipe.model_copy(update={"data": data})


def _fidelity(searched: Recipe, final: Recipe) -> dict[str, dict[str, object]]:
    """Provenance of the search fidelity and the final budget (n_train: images trained on)."""
    from autokd.data import load_splits

    optim = searched.optim
    return {
        "search_fidelity": {
            "epochs": optim.epochs,
            "train_size": searched.data.train_size,
            "train_fraction": searched.data.train_fraction,
            "n_train": len(load_splits(searched.data).train_y),
            "lr_schedule": optim.lr_schedule,
            "lr_milestones": list(optim.lr_milestones),
        },
        "final_budget": {
            "epochs": final.optim.epochs,
            "n_train": len(load_splits(final.data).train_y),
        },
    }


def export_pareto(
    config: StudyConfig,
    out_dir: str | Path,
    *,
    storage: str | None = None,
    as_searched: bool = False,
) -> list[Path]:
    """Writes one recipe per Pareto-optimal trial, plus ``pareto.csv`` and ``pareto.md``.

    Recipes are ``trial_<n>.yaml`` with the same provenance as :func:`export_best`; the
    tables list trial, val_acc, params, MACs, latency (when measured) and file, highest
    val_acc first. A single-objective study's "Pareto set" is its best trial.

    Returns:
        The files written: recipes first (in table order), then the two tables.

    Raises:
        AutokdError: If the study has no completed trial.
    """
    study = load_study(config, storage)
    _require_complete(config, study)
    trials = study.best_trials if len(study.directions) > 1 else [study.best_trial]
    trials = sorted(trials, key=lambda t: (-t.values[0], t.number))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timed = any("student_latency_ms" in t.user_attrs for t in trials)
    header = ["trial", "val_acc", "params", "macs", *(["latency_ms"] if timed else []), "file"]
    rows: list[list[object]] = []
    files: list[Path] = []
    from autokd.study._recipes import searched_recipes

    rebuilt = searched_recipes(config, study, trials)  # validates the space once
    for trial in trials:
        recipe = export_trial(
            config, study, trial, as_searched=as_searched, searched=rebuilt[trial.number]
        )
        path = out / f"trial_{trial.number}.yaml"
        recipe.to_yaml(path)
        files.append(path)
        attrs = trial.user_attrs
        rows.append(
            [
                trial.number,
                trial.values[0],
                attrs.get("student_params"),
                attrs.get("student_macs"),
                *([attrs.get("student_latency_ms")] if timed else []),
                path.name,
            ]
        )
    csv_path, md_path = out / "pareto.csv", out / "pareto.md"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    objectives = study.user_attrs.get("objectives", ["val_acc"])
    lines = [
        f"# Pareto set of study '{config.study.name}'",
        "",
        f"Objectives: {', '.join(objectives)} (val_acc maximised, the others minimised); "
        f"{len(rows)} non-dominated trial(s), highest val_acc first.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows),
    ]
    md_path.write_text("\n".join(lines) + "\n")
    return [*files, csv_path, md_path]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _require_complete(config: StudyConfig, study: optuna.Study) -> None:
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        raise AutokdError(
            f"{config.file}: study '{config.study.name}' has no completed trial yet."
        )
