"""How well a trial's study value predicts a recipe's accuracy on fresh seeds.

A study ranks recipes by one training run each. The value it ranks by (the objective) is
only useful as far as its order agrees with the order of the recipes' mean test accuracy over
seeds the study never saw. :func:`rank_agreement` measures that agreement as Spearman's rho,
with a bootstrap interval over recipes, for several candidate objectives computed from the
same learning curves (:func:`candidate_objectives`).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses

import numpy as np
from scipy import stats

__all__ = ["OBJECTIVES", "RankAgreement", "candidate_objectives", "rank_agreement"]

#: The candidates, by name: the last epoch's val_acc; the mean val_acc of the last k epochs;
#: minus the last epoch's validation NLL; the last val_acc with ties broken by lower NLL.
OBJECTIVES = ("val_acc", "val_acc_last_k", "neg_val_nll", "val_acc_nll_tiebreak")


def candidate_objectives(
    history: Sequence[Mapping[str, float]], *, k: int = 3
) -> dict[str, float]:
    """Each candidate objective of one trial from its per-epoch ``val_acc`` and ``val_loss``.

    The tie-break adds ``-1e-6 * nll``: validation NLLs stay far below 1000, so it never
    outweighs one validation image (at most 1e-3 apart for 1000 images) and only orders equal
    accuracies.
    """
    last = history[-1]
    tail = [h["val_acc"] for h in history[-k:]]
    return {
        "val_acc": last["val_acc"],
        "val_acc_last_k": float(np.mean(tail)),
        "neg_val_nll": -last["val_loss"],
        "val_acc_nll_tiebreak": last["val_acc"] - 1e-6 * last["val_loss"],
    }


@dataclasses.dataclass(frozen=True)
class RankAgreement:
    """Spearman's rho of an objective against fresh-seed accuracy, over n recipes.

    Attributes:
        rho: Spearman's rank correlation (ties get average ranks).
        low, high: The 2.5% and 97.5% percentiles of rho over bootstrap resamples of recipes.
        n: Recipes compared.
        regret: Fresh-seed accuracy of the best recipe minus that of the recipe this
            objective ranks first.
    """

    rho: float
    low: float
    high: float
    n: int
    regret: float


def rank_agreement(
    scores: Sequence[float],
    fresh: Sequence[float],
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> RankAgreement:
    """Agreement of ``scores`` (one per recipe) with ``fresh`` (their mean fresh-seed accuracy).

    Raises:
        ValueError: If the lengths differ or fewer than 3 recipes are given.
    """
    x, y = np.asarray(scores, dtype=float), np.asarray(fresh, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"scores and fresh need one value per recipe, got {x.shape}, {y.shape}")
    n = len(x)
    if n < 3:
        raise ValueError(f"rank agreement needs at least 3 recipes, got {n}")
    rho = _spearman(x, y)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        value = _spearman(x[idx], y[idx])
        if np.isfinite(value):
            boots.append(value)
    low, high = np.percentile(boots, [2.5, 97.5]) if boots else (np.nan, np.nan)
    first = int(np.flatnonzero(x == x.max())[0])
    return RankAgreement(
        rho=rho, low=float(low), high=float(high), n=n, regret=float(y.max() - y[first])
    )


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")  # a constant side has no order
    return float(stats.spearmanr(x, y).statistic)
