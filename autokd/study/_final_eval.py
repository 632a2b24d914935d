"""The final evaluation: re-train the top trials with several seeds, test only the winner.

A study ranks trials by one training run each, so its best trial is partly luck (the winner's
curse). ``run_final_eval`` re-trains the ``top_k`` completed trials with each seed, on the
validation split only, names as winner the one with the best mean validation accuracy, and
then measures the test split once, for the winner alone. The test accuracy of the other
candidates is never computed, so it cannot leak into the choice.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING
from typing import Any

import optuna
from optuna.trial import TrialState

from autokd.engine import TeacherCache
from autokd.engine import train_recipe
from autokd.exceptions import TrialSetupError
from autokd.logging import get_logger
from autokd.recipe import Recipe
from autokd.study._recipes import searched_recipes

if TYPE_CHECKING:
    import torch

    from autokd.config import StudyConfig
    from autokd.tracking import MlflowTracker

__all__ = ["FINAL_EVAL_ATTR", "candidate_trials", "run_final_eval"]

_logger = get_logger(__name__)

#: The study user attribute that holds the record of the final evaluation.
FINAL_EVAL_ATTR = "final_eval"


def candidate_trials(study: optuna.Study, top_k: int) -> list[optuna.trial.FrozenTrial]:
    """The ``top_k`` completed trials by value, best first (ties: lower trial number)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted(complete, key=lambda t: (-float(t.values[0]), t.number))[:top_k]


def run_final_eval(
    config: StudyConfig,
    study: optuna.Study,
    *,
    device: str | torch.device,
    tracker: MlflowTracker | None = None,
    parent_run_id: str | None = None,
    teacher_cache: TeacherCache | None = None,
) -> dict[str, Any] | None:
    """Re-trains the top trials with several seeds and tests the winner once.

    Each candidate's recipe is rebuilt from its params exactly as ``autokd export
    --as-searched`` does, and trained once per seed with ``evaluate_test=False``. The winner
    has the highest mean val_acc (ties: lower std, then the higher study value, then the
    lower trial number); it alone is trained again per seed with ``evaluate_test=True``.
    The record goes to the study user attribute ``final_eval`` and, given a tracker, to the
    study's MLflow run (metrics ``final_eval_val_mean``, ``final_eval_test_mean``,
    ``final_eval_test_std``, tag ``final_eval.winner``).

    A record with the same top_k, seeds and candidate trials is kept, not redone.

    Args:
        config: The study file; nothing is done unless it has a ``final_eval`` section.
        study: The optimised study (single-objective).
        device: Training device.
        tracker: Where the study's MLflow run is, if it is tracked.
        parent_run_id: The study's (still open) MLflow run.

    Returns:
        The record stored in the study, or ``None`` when skipped (no section, several
        objectives, no completed trial, or every candidate failed).
    """
    spec = config.final_eval
    if spec is None:
        return None
    if len(study.directions) > 1:
        _logger.info("final_eval skipped: study '%s' has several objectives", study.study_name)
        return None
    trials = candidate_trials(study, spec.top_k)
    if not trials:
        _logger.info("final_eval skipped: study '%s' has no completed trial", study.study_name)
        return None
    seeds = list(spec.seeds)
    stored = study.user_attrs.get(FINAL_EVAL_ATTR)
    if _same_plan(stored, spec.top_k, seeds, trials):
        _logger.info("final_eval of study '%s' already done: kept", study.study_name)
        return stored

    if stored is not None:  # another plan: a stale record must not outlive a failed redo
        study.set_user_attr(FINAL_EVAL_ATTR, None)
    start = time.perf_counter()
    recipes = searched_recipes(config, study, trials)
    options = config.engine.train_options()  # as the study trained them
    candidates = []
    for trial in trials:
        vals = _train_seeds(
            trial.number, recipes[trial.number], seeds, device, teacher_cache, options
        )
        if vals is not None:
            candidates.append(_summary(trial, vals))
    if not candidates:
        _logger.warning("final_eval: every candidate failed; no winner")
        return None
    best = max(candidates, key=_rank)
    winner = best["trial"]
    tests, reproduced = _test_winner(
        winner, recipes[winner], seeds, best["vals"], device, teacher_cache, options
    )
    record = {
        "top_k": spec.top_k,
        "seeds": seeds,
        "candidates": candidates,
        "winner": winner,
        "val_mean": best["val_mean"],
        "val_std": best["val_std"],
        "test_mean": statistics.fmean(tests),
        "test_std": statistics.stdev(tests),
        "tests": tests,
        "reproduced": reproduced,
        "seconds": round(time.perf_counter() - start, 1),
    }
    # The study storage first: the training above is the expensive part.
    study.set_user_attr(FINAL_EVAL_ATTR, record)
    if tracker is not None and parent_run_id is not None:
        _track(tracker, parent_run_id, record)
    _logger.info(
        "final_eval: winner trial %d, val_acc %.4f ± %.4f, test_acc %.4f ± %.4f (%d seeds)",
        winner,
        record["val_mean"],
        record["val_std"],
        record["test_mean"],
        record["test_std"],
        len(seeds),
    )
    return record


def _same_plan(
    stored: Any, top_k: int, seeds: list[int], trials: list[optuna.trial.FrozenTrial]
) -> bool:
    if not isinstance(stored, dict):
        return False
    done = [c.get("trial") for c in stored.get("candidates", [])]
    return (
        stored.get("top_k") == top_k
        and stored.get("seeds") == seeds
        and done == [t.number for t in trials]
    )


def _train_seeds(
    number: int,
    recipe: Recipe,
    seeds: list[int],
    device: str | torch.device,
    cache: TeacherCache | None,
    options: dict[str, Any],
) -> list[float] | None:
    """Validation accuracy of ``recipe`` for each seed; ``None`` if a run fails."""
    vals = []
    for seed in seeds:
        try:
            result = train_recipe(
                recipe.with_overrides(seed=seed), device=device, teacher_cache=cache, **options
            )
        except TrialSetupError as exc:
            _logger.warning(
                "final_eval: trial %d, seed %d failed (%s): dropped", number, seed, exc
            )
            return None
        vals.append(result.val_acc)
        _logger.info(
            "final_eval: trial %d, seed %d: val_acc %.4f (%.1f s)",
            number,
            seed,
            result.val_acc,
            result.seconds,
        )
    return vals


def _summary(trial: optuna.trial.FrozenTrial, vals: list[float]) -> dict[str, Any]:
    return {
        "trial": trial.number,
        "value": float(trial.values[0]),
        "val_mean": statistics.fmean(vals),
        "val_std": statistics.stdev(vals),
        "vals": vals,
    }


def _rank(candidate: dict[str, Any]) -> tuple[float, float, float, int]:
    # Higher is better: mean, then lower std, then the study's single-run value, then the
    # earlier trial.
    return (
        candidate["val_mean"],
        -candidate["val_std"],
        candidate["value"],
        -candidate["trial"],
    )


def _test_winner(
    number: int,
    recipe: Recipe,
    seeds: list[int],
    vals: list[float],
    device: str | torch.device,
    cache: TeacherCache | None,
    options: dict[str, Any],
) -> tuple[list[float], bool]:
    """Test accuracy of the winner per seed, and whether its val_acc came out the same.

    Training is deterministic on CPU for a seed, so the re-run repeats the candidate phase;
    on CUDA it may differ slightly, which is logged.
    """
    tests, reproduced = [], True
    for seed, val in zip(seeds, vals, strict=True):
        result = train_recipe(
            recipe.with_overrides(seed=seed),
            device=device,
            evaluate_test=True,
            teacher_cache=cache,
            **options,
        )
        assert result.test_acc is not None
        tests.append(result.test_acc)
        if result.val_acc != val:
            reproduced = False
            _logger.warning(
                "final_eval: winner trial %d, seed %d: val_acc %.4f on the test run, %.4f "
                "before (training is not deterministic on this device)",
                number,
                seed,
                result.val_acc,
                val,
            )
        _logger.info(
            "final_eval: winner trial %d, seed %d: test_acc %.4f", number, seed, result.test_acc
        )
    return tests, reproduced


def _track(tracker: MlflowTracker, run_id: str, record: dict[str, Any]) -> None:
    tracker.log_metrics(
        run_id,
        {
            "final_eval_val_mean": record["val_mean"],
            "final_eval_test_mean": record["test_mean"],
            "final_eval_test_std": record["test_std"],
        },
        step=0,
    )
    tracker.set_tags(
        run_id,
        {
            "final_eval.winner": str(record["winner"]),
            "final_eval.seeds": ",".join(map(str, record["seeds"])),
        },
    )
