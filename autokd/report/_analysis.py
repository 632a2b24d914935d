"""What mattered in a study, from every trial's learning curve, with intervals.

:func:`analyse_study` picks a rung (:mod:`autokd.report._rungs`), encodes the parameters
of the trials there (:mod:`autokd.report._encode`), ranks them by bootstrap permutation
importance (:mod:`autokd.report._importance`) and answers the distillation questions
(:mod:`autokd.report._answers`). Library warnings raised meanwhile are recorded, not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
import re
import warnings

import optuna
import pandas as pd

from autokd.report._answers import group_means
from autokd.report._answers import grouped_params
from autokd.report._answers import search_next
from autokd.report._answers import term_effects
from autokd.report._encode import encode
from autokd.report._importance import IMPORTANCE_COLUMNS
from autokd.report._importance import N_BOOTSTRAP
from autokd.report._importance import bootstrap_importances
from autokd.report._importance import partial_dependences
from autokd.report._rungs import MIN_TRIALS
from autokd.report._rungs import Rung
from autokd.report._rungs import TrialPool
from autokd.report._rungs import choose_rung
from autokd.report._rungs import trial_pool

__all__ = ["Analysis", "analyse_study"]

#: Numeric parameters that get partial-dependence curves: learning rate, temperature, alpha.
_CURVES = re.compile(r"^(optim\.lr|distill\.(temperature|alpha)\.(value|start|end|at))$")


@dataclass(frozen=True)
class Analysis:
    """Everything the report says about what mattered.

    Attributes:
        pool: The usable trials and what was left out.
        rung: The rung the figures rest on, or None when there is too little evidence.
        verdict: "" or the one plain sentence saying there is too little evidence and why.
        importances: Columns ``param, median, low, high, evidence, n_trials, rung``.
        terms: On-vs-off effect of each optional loss term (see ``term_effects``).
        groups: Mean value per choice of schedules, layer pairs, width and depth.
        curves: Partial dependence of the value on lr, temperature and alpha values.
        next_steps: "What to search next" lines, each with its numbers.
        notes: Plain lines about the data used (objectives, ignored trials).
        warnings: Library warnings raised during the analysis, as text.
    """

    pool: TrialPool
    rung: Rung | None
    verdict: str
    importances: pd.DataFrame
    terms: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: dict[str, pd.DataFrame] = field(default_factory=dict)
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    next_steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _notes(pool: TrialPool) -> list[str]:
    notes = []
    if pool.n_objectives > 1:
        notes.append(
            f"The study has {pool.n_objectives} objectives; this analysis uses the first "
            "(val_acc) only."
        )
    if pool.n_failed:
        notes.append(f"{pool.n_failed} failed trial(s) ignored.")
    if pool.n_running:
        notes.append(f"{pool.n_running} running or waiting trial(s) ignored.")
    return notes


def _no_evidence(rung: Rung) -> str:
    return (
        f"No parameter shows evidence: every importance's 90% interval reaches 0 at "
        f"{rung.label}, where only {rung.n_complete} complete and {rung.n_pruned} pruned "
        "trial(s) were usable; run more trials."
    )


def _analyse(study: optuna.Study, *, n_bootstrap: int, seed: int, min_trials: int) -> Analysis:
    pool = trial_pool(study)
    rung, verdict = choose_rung(pool, min_trials=min_trials)
    notes = _notes(pool)
    if rung is None:
        empty = pd.DataFrame(columns=IMPORTANCE_COLUMNS)
        return Analysis(pool, None, verdict, empty, notes=notes)
    trials, values = rung.trials, rung.values
    encoded = encode(trials)
    importances = bootstrap_importances(
        encoded, values, rung=rung.label, n_bootstrap=n_bootstrap, seed=seed
    )
    if (importances["evidence"] != "evidence").all():
        verdict = _no_evidence(rung)
    terms = term_effects(trials, values)
    groups = {p: group_means(trials, values, p) for p in grouped_params(trials)}
    curve_params = [p for p in encoded.groups if _CURVES.match(p)]
    curves = partial_dependences(
        trials, encoded, values, curve_params, seed=seed, min_trials=min_trials
    )
    steps = search_next(trials, values, terms, maximize=pool.maximize, min_trials=min_trials)
    return Analysis(
        pool,
        rung,
        verdict,
        importances,
        terms=terms,
        groups={p: g for p, g in groups.items() if not g.empty},
        curves=curves,
        next_steps=steps,
        notes=notes,
    )


def analyse_study(
    study: optuna.Study,
    *,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
    min_trials: int = MIN_TRIALS,
) -> Analysis:
    """Ranks a study's parameters from every trial's learning curve, with 90% intervals.

    The figures rest on one rung (see :func:`autokd.report._rungs.choose_rung`): the latest
    step reached by ``min_trials`` COMPLETE or PRUNED trials whose values rank the complete
    trials as their final values do. FAIL and RUNNING trials are ignored and counted; a
    multi-objective study is analysed on its first objective. Deterministic for a ``seed``.

    Args:
        study: Any study; trials may be in any state.
        n_bootstrap: Bootstrap resamples behind each interval.
        seed: Seeds the resamples and the forests.
        min_trials: Fewest trials a rung needs.

    Returns:
        The :class:`Analysis`. With too little evidence (no rung with ``min_trials`` trials
        that agrees with the final values, or no parameter with evidence) ``verdict`` holds
        one sentence saying so and what would fix it.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(direction="maximize")
        >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
        >>> analyse_study(study).verdict.startswith("Too little evidence")
        True
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _analyse(study, n_bootstrap=n_bootstrap, seed=seed, min_trials=min_trials)
    text = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught]
    result.warnings.extend(text)
    return result
