"""Which trials the analysis rests on: rungs of the learning curves, and the one presented.

A *rung* is a step (an epoch, counted from 0 as the trials reported it) together with every
COMPLETE or PRUNED trial that reported a value there; that value is the trial's target. A
pruned trial thereby counts at every rung it reached, so a study whose pruner stopped most
trials early still has many trials at its early rungs. The final values of the COMPLETE
trials form one more rung, ``step=None``, the latest of all.

The rung presented is the latest one that (a) at least :data:`MIN_TRIALS` trials reached and
(b) ranks the complete trials as their final values do: Spearman's rho between the rung value
and the final value over the complete trials that reported there is at least :data:`MIN_RHO`.
When fewer than 3 complete trials reached a rung its rho is undefined and (b) is waived, which
the report says.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
import math

import numpy as np
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
from scipy import stats

__all__ = ["MIN_RHO", "MIN_TRIALS", "Rung", "TrialPool", "choose_rung", "trial_pool"]

#: Fewest trials a rung needs. A forest on fewer rows ranks nothing reliably, and the
#: top quartile of 8 trials is still 2 trials; a fixed count keeps the rule easy to state.
MIN_TRIALS = 8
#: Agreement a rung needs with the final values (Spearman over complete trials).
MIN_RHO = 0.5
_MIN_RHO_TRIALS = 3  # Spearman of fewer points is undefined or always +-1.


@dataclass(frozen=True)
class TrialPool:
    """The usable trials of a study and their target values (first objective).

    Attributes:
        trials: COMPLETE and PRUNED trials with parameters, in trial-number order.
        n_failed: FAIL trials, ignored.
        n_running: RUNNING or WAITING trials, ignored.
        maximize: Whether higher values of the first objective are better.
        n_objectives: Objectives of the study; only the first is analysed.
    """

    trials: tuple[FrozenTrial, ...]
    n_failed: int
    n_running: int
    maximize: bool
    n_objectives: int


@dataclass(frozen=True)
class Rung:
    """The trials that reached one step, with their value there.

    Attributes:
        step: The reported step (epoch from 0), or None for the complete trials' final values.
        trials: The trials that reported at ``step`` (or completed), in trial-number order.
        values: Each trial's value at the rung, aligned with ``trials``.
        rho: Spearman rho of rung values against final values over the complete trials here
            (NaN when fewer than 3 of them, or when either side is constant; 1 for the final
            rung).
        n_rho: The complete trials rho rests on.
    """

    step: int | None
    trials: tuple[FrozenTrial, ...]
    values: np.ndarray
    rho: float
    n_rho: int

    @property
    def n_complete(self) -> int:
        return sum(t.state == TrialState.COMPLETE for t in self.trials)

    @property
    def n_pruned(self) -> int:
        return sum(t.state == TrialState.PRUNED for t in self.trials)

    @property
    def label(self) -> str:
        return "final values" if self.step is None else f"step {self.step}"

    def describe(self) -> str:
        """One line: where, how many trials of which state, agreement with final values."""
        head = (
            f"{self.label}: {len(self.trials)} trials ({self.n_complete} complete, "
            f"{self.n_pruned} pruned)"
        )
        if self.step is None:
            return head
        if math.isnan(self.rho):
            return (
                f"{head}; agreement with final values not checked ({self.n_rho} complete "
                f"trial(s) reached it, Spearman needs {_MIN_RHO_TRIALS} with distinct values)"
            )
        return f"{head}; Spearman {self.rho:.2f} with final values over {self.n_rho} complete"


def trial_pool(study: optuna.Study) -> TrialPool:
    """The study's COMPLETE and PRUNED trials with parameters, and what was left out."""
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state for t in trials)
    usable = tuple(
        t
        for t in trials
        if t.params
        and (
            (t.state == TrialState.COMPLETE and t.values)
            or (t.state == TrialState.PRUNED and t.intermediate_values)
        )
    )
    return TrialPool(
        trials=usable,
        n_failed=states[TrialState.FAIL],
        n_running=states[TrialState.RUNNING] + states[TrialState.WAITING],
        maximize=study.directions[0] == optuna.study.StudyDirection.MAXIMIZE,
        n_objectives=len(study.directions),
    )


def _spearman(x: list[float], y: list[float]) -> float:
    if len(x) < _MIN_RHO_TRIALS or len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def rungs(pool: TrialPool) -> list[Rung]:
    """Every rung of the pool, latest first: the final values, then steps descending."""
    out = []
    complete = [t for t in pool.trials if t.state == TrialState.COMPLETE]
    if complete:
        values = np.array([t.values[0] for t in complete], dtype=float)
        out.append(Rung(None, tuple(complete), values, 1.0, len(complete)))
    steps = sorted({s for t in pool.trials for s in t.intermediate_values}, reverse=True)
    for step in steps:
        here = tuple(t for t in pool.trials if step in t.intermediate_values)
        values = np.array([t.intermediate_values[step] for t in here], dtype=float)
        done = [t for t in here if t.state == TrialState.COMPLETE]
        rho = _spearman([t.intermediate_values[step] for t in done], [t.values[0] for t in done])
        out.append(Rung(step, here, values, rho, len(done)))
    return out


def _finite(rung: Rung) -> Rung:
    keep = np.isfinite(rung.values)
    trials = tuple(t for t, k in zip(rung.trials, keep, strict=True) if k)
    return Rung(rung.step, trials, rung.values[keep], rung.rho, rung.n_rho)


def choose_rung(pool: TrialPool, *, min_trials: int = MIN_TRIALS) -> tuple[Rung | None, str]:
    """The latest rung with ``min_trials`` trials that agrees with the final values.

    Returns:
        The rung (non-finite values dropped), or None and the plain sentence that says why
        there is too little evidence and what would fix it.
    """
    candidates = [_finite(r) for r in rungs(pool)]
    big = [r for r in candidates if len(r.trials) >= min_trials]
    for rung in big:
        if math.isnan(rung.rho) or rung.rho >= MIN_RHO:
            return rung, ""
    n_complete = sum(t.state == TrialState.COMPLETE for t in pool.trials)
    n_pruned = len(pool.trials) - n_complete
    counts = f"only {n_complete} complete and {n_pruned} pruned trial(s) are usable"
    if not big:
        most = max((len(r.trials) for r in candidates), default=0)
        return None, (
            f"Too little evidence to rank parameters: {counts}, and no epoch was reached by "
            f"{min_trials} trials (at most {most}); run more trials, or prune later."
        )
    best = max(big, key=lambda r: r.rho)
    return None, (
        f"Too little evidence to rank parameters: {counts}, and no rung reached by "
        f"{min_trials} trials ranks the complete trials as their final values do (best "
        f"Spearman {best.rho:.2f} at {best.label}, needed {MIN_RHO}); run more trials to "
        "completion."
    )
