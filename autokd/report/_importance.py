"""Parameter importances with bootstrap intervals, and partial dependence, on one rung.

Importance of a parameter = how much of the value's variance a random forest stops explaining
when that parameter's columns are permuted, measured on the trials the forest did not see:

1. Draw a bootstrap resample of the rung's trials (seeded, so the report is deterministic).
2. Fit scikit-learn's ``RandomForestRegressor`` on it.
3. On the out-of-bag trials, permute each parameter's column group jointly (its value and
   its ``[active]`` indicator) and take the rise in mean squared error, divided by the
   variance of all the rung's values: the share of variance lost (0 = the forest never
   needed it; negative = noise).

Each importance is the median over resamples with the 5th-95th percentile as its 90%
interval. A parameter whose lower bound is at most :data:`EVIDENCE_EPS` has "no evidence": in
more than 5% of the resamples, scrambling it cost (almost) nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.inspection import partial_dependence

from autokd.report._encode import Encoded
from autokd.report._encode import decode_value
from autokd.report._encode import distributions
from autokd.report._encode import encode_value

__all__ = [
    "EVIDENCE_EPS",
    "IMPORTANCE_COLUMNS",
    "N_BOOTSTRAP",
    "bootstrap_importances",
    "partial_dependences",
]

N_BOOTSTRAP = 200
N_TREES = 32
#: Lower 90% bound (share of variance) at or below which a parameter has no evidence.
EVIDENCE_EPS = 0.01
IMPORTANCE_COLUMNS = ["param", "median", "low", "high", "evidence", "n_trials", "rung"]
_PD_POINTS = 11


def _forest(seed: int) -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=N_TREES, random_state=seed, n_jobs=1)


def _resample_importances(
    x: np.ndarray, y: np.ndarray, groups: list[list[int]], rng: np.random.Generator, seed: int
) -> np.ndarray:
    """One bootstrap resample's variance share lost per group (NaN if too few out of bag)."""
    n = len(y)
    rows = rng.integers(0, n, n)
    oob = np.setdiff1d(np.arange(n), rows)
    if len(oob) < 2:
        return np.full(len(groups), np.nan)
    forest = _forest(seed).fit(x[rows], y[rows])
    blocks = [x[oob]]
    for cols in groups:
        permuted = x[oob].copy()
        order = rng.permutation(len(oob))
        permuted[:, cols] = permuted[order][:, cols]  # The group moves together.
        blocks.append(permuted)
    pred = forest.predict(np.vstack(blocks)).reshape(len(blocks), len(oob))  # (1+G, n_oob)
    mse = ((pred - y[oob]) ** 2).mean(axis=1)
    return (mse[1:] - mse[0]) / y.var()


def bootstrap_importances(
    encoded: Encoded,
    values: np.ndarray,
    *,
    rung: str,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
) -> pd.DataFrame:
    """Median and 90% interval of each parameter's importance over bootstrap resamples.

    Args:
        encoded: The rung's trials, encoded.
        values: Their values at the rung (aligned with the frame's rows).
        rung: The rung's label, copied into the ``rung`` column.
        n_bootstrap: Resamples.
        seed: Seeds the resampling, the permutations and the forests.

    Returns:
        Columns :data:`IMPORTANCE_COLUMNS`; evidence first, then by median, then by name.
        Every importance is 0 when the values do not vary.
    """
    names = list(encoded.groups)
    columns = list(encoded.frame.columns)
    groups = [[columns.index(c) for c in encoded.groups[name]] for name in names]
    x, y = encoded.frame.to_numpy(dtype=float), np.asarray(values, dtype=float)
    if y.var() > 0:
        rng = np.random.default_rng(seed)
        draws = np.array(
            [_resample_importances(x, y, groups, rng, seed + b) for b in range(n_bootstrap)]
        )  # (n_bootstrap, G)
    else:
        draws = np.zeros((1, len(names)))
    low, median, high = np.nanpercentile(draws, [5, 50, 95], axis=0)
    frame = pd.DataFrame(
        {
            "param": names,
            "median": median,
            "low": low,
            "high": high,
            "evidence": np.where(low > EVIDENCE_EPS, "evidence", "no evidence"),
            "n_trials": len(y),
            "rung": rung,
        }
    )
    frame["_rank"] = frame["evidence"] != "evidence"
    frame = frame.sort_values(["_rank", "median", "param"], ascending=[True, False, True])
    return frame.drop(columns="_rank").reset_index(drop=True)[IMPORTANCE_COLUMNS]


def partial_dependences(
    trials: Sequence[FrozenTrial],
    encoded: Encoded,
    values: np.ndarray,
    params: Sequence[str],
    *,
    seed: int = 0,
    min_trials: int = 8,
) -> dict[str, pd.DataFrame]:
    """Partial dependence of the rung value on each numeric parameter in ``params``.

    One forest is fitted on all the rung's trials; each curve averages its predictions over
    the trials where the parameter is active, on 11 points evenly spaced over the search
    range (in log10 for log parameters). Parameters active in fewer than ``min_trials``
    trials are left out.

    Returns:
        Per parameter, a frame with ``value`` (original scale), ``predicted``, ``n`` (the
        trials averaged over) and ``log`` (whether the range is log-scaled).
    """
    dists = distributions(trials)
    forest = _forest(seed).fit(encoded.frame, values)
    out = {}
    for name in params:
        dist = dists.get(name)
        if dist is None or isinstance(dist, CategoricalDistribution):
            continue
        active = (
            encoded.frame[f"{name}[active]"] == 1 if f"{name}[active]" in encoded.frame else None
        )
        rows = encoded.frame if active is None else encoded.frame[active]
        if len(rows) < min_trials:
            continue
        grid = np.linspace(encode_value(dist, dist.low), encode_value(dist, dist.high), _PD_POINTS)
        result = partial_dependence(
            forest, rows, [name], custom_values={name: grid}, method="brute", kind="average"
        )
        out[name] = pd.DataFrame(
            {
                "value": [decode_value(dist, g) for g in result["grid_values"][0]],
                "predicted": result["average"][0],
                "n": len(rows),
                "log": bool(getattr(dist, "log", False)),
            }
        )
    return out
