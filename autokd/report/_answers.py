"""Answers in distillation terms from one rung: loss terms on vs off, per-choice means, and
what to search next.

Parameter names follow the search space (:mod:`autokd.space`): a ``search: optional`` term
``NAME`` is switched by ``distill.terms.NAME.enabled`` (True/False), ``distill.choose`` picks
a combination such as ``"at+kd"``, a feature term's layer pair is ``distill.terms.NAME.pair``,
schedules are ``distill.temperature.schedule`` and ``distill.alpha.schedule``.
"""

from __future__ import annotations

from collections.abc import Sequence
import math
import re

import numpy as np
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial
import pandas as pd
from scipy import stats

from autokd.report._encode import distributions
from autokd.report._encode import to_unit

__all__ = ["EDGE", "group_means", "grouped_params", "search_next", "term_effects"]

_SWITCH = re.compile(r"^distill\.terms\.([^.]+)\.enabled$")
_CHOOSE = "distill.choose"
#: Parameters answered by a mean per choice: schedules, layer pairs, projectors, student size.
_GROUPED = re.compile(
    r"^(distill\.(temperature|alpha)\.schedule|distill\.terms\.[^.]+\.(pair|projector)"
    r"|student\.(width|depth)(:.*)?)$"
)
_MAX_LEVELS = 12  # A numeric parameter with more distinct values gets no per-value table.
_COSTS = ("student_params", "student_macs")
#: Share of a range (log scale where log) that counts as "at its edge".
EDGE = 0.05
_NARROW = 0.5  # Suggest narrowing when the top quartile spans at most this share of the range.


def _switches(trial: FrozenTrial) -> dict[str, bool]:
    """Each optional term's on/off state in ``trial``."""
    out = {}
    for name, value in trial.params.items():
        match = _SWITCH.match(name)
        if match:
            out[match.group(1)] = value in (True, "True", "true")
    if _CHOOSE in trial.params:
        dist = trial.distributions[_CHOOSE]
        chosen = set(str(trial.params[_CHOOSE]).split("+"))
        for combo in getattr(dist, "choices", ()):
            for term in str(combo).split("+"):
                out[term] = term in chosen
    return out


def _welch(on: np.ndarray, off: np.ndarray) -> tuple[float, float]:
    if len(on) < 2 or len(off) < 2 or (on.var() == 0 and off.var() == 0):
        return math.nan, math.nan
    interval = stats.ttest_ind(on, off, equal_var=False).confidence_interval(0.95)
    return float(interval.low), float(interval.high)


def term_effects(trials: Sequence[FrozenTrial], values: np.ndarray) -> pd.DataFrame:
    """Mean value with each optional term on minus off, with a 95% Welch t-interval.

    Returns:
        Columns ``term, n_on, n_off, mean_on, mean_off, diff, low, high``, one row per term
        (by name); the interval is NaN when a side has fewer than 2 trials.
    """
    switches = [_switches(t) for t in trials]
    rows = []
    for term in sorted({name for s in switches for name in s}):
        on_mask = np.array([s.get(term) is True for s in switches])
        off_mask = np.array([s.get(term) is False for s in switches])
        on, off = values[on_mask], values[off_mask]
        mean_on = float(on.mean()) if len(on) else math.nan
        mean_off = float(off.mean()) if len(off) else math.nan
        rows.append(
            (term, len(on), len(off), mean_on, mean_off, mean_on - mean_off, *_welch(on, off))
        )
    columns = ["term", "n_on", "n_off", "mean_on", "mean_off", "diff", "low", "high"]
    return pd.DataFrame(rows, columns=columns)


def grouped_params(trials: Sequence[FrozenTrial]) -> list[str]:
    """The parameters answered per choice (schedules, pairs, projectors, width, depth)."""
    return [name for name in distributions(trials) if _GROUPED.match(name)]


def group_means(trials: Sequence[FrozenTrial], values: np.ndarray, param: str) -> pd.DataFrame:
    """Mean value per choice (or per value) of ``param`` over the trials that have it.

    Returns:
        Columns ``choice, n, mean`` plus the median of each of ``student_params`` and
        ``student_macs`` that the trials' user attributes hold; ordered by choice. Empty
        when a numeric parameter takes more than 12 distinct values.
    """
    rows = [
        {"choice": t.params[param], "value": v, **{c: t.user_attrs.get(c) for c in _COSTS}}
        for t, v in zip(trials, values, strict=True)
        if param in t.params
    ]
    frame = pd.DataFrame(rows, columns=["choice", "value", *_COSTS])
    if frame.empty or frame["choice"].nunique() > _MAX_LEVELS:
        return pd.DataFrame(columns=["choice", "n", "mean"])
    frame["choice"] = (
        frame["choice"].astype(str) if frame["choice"].dtype == object else frame["choice"]
    )
    out = frame.groupby("choice", sort=True).agg(n=("value", "size"), mean=("value", "mean"))
    for cost in _COSTS:
        if frame[cost].notna().any():
            out[cost] = frame.groupby("choice", sort=True)[cost].median()
    return out.reset_index()


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _range_line(name: str, dist: object, top: list[float], n: int) -> str:
    """The widen or narrow line for one numeric parameter, or ""."""
    k = len(top)
    units = [to_unit(dist, v) for v in top]  # type: ignore[arg-type]
    at_low, at_high = sum(u <= EDGE for u in units), sum(u >= 1 - EDGE for u in units)
    need = max(2, math.ceil(k / 2))
    low, high = dist.low, dist.high  # type: ignore[attr-defined]
    for count, edge, side in ((at_high, high, "high"), (at_low, low, "low")):
        if count >= need:
            word = "above" if side == "high" else "below"
            return (
                f"Widen `{name}` {word} its {side} edge {_fmt(edge)}: {count} of the top "
                f"quartile's {k} trials lie within {EDGE:.0%} of it."
            )
    if max(units) - min(units) <= _NARROW:
        return (
            f"Narrow `{name}` from [{_fmt(low)}, {_fmt(high)}] to [{_fmt(min(top))}, "
            f"{_fmt(max(top))}]: the top quartile ({k} of {n} trials) lies there."
        )
    return ""


def _top_quartile(values: np.ndarray, maximize: bool) -> np.ndarray:
    """Indices of the best ceil(n/4) values; ties go to the earlier index."""
    order = np.argsort(-values if maximize else values, kind="stable")
    return order[: math.ceil(len(values) / 4)]


def _term_line(row: pd.Series, maximize: bool) -> str:
    if math.isnan(row.low):
        return ""
    sign = 1 if maximize else -1
    n = int(row.n_on + row.n_off)
    numbers = (
        f"on − off = {row['diff']:+.4f} [{row.low:+.4f}, {row.high:+.4f}] over {n} trials "
        f"({row.n_on} on, {row.n_off} off)"
    )
    if min(sign * row.low, sign * row.high) > 0:
        return f"Keep `{row.term}` on: {numbers}."
    if max(sign * row.low, sign * row.high) < 0:
        return f"Drop `{row.term}`: it hurts, {numbers}."
    return f"Drop `{row.term}` (or fix it off): no evidence it helps, {numbers}."


def search_next(
    trials: Sequence[FrozenTrial],
    values: np.ndarray,
    terms: pd.DataFrame,
    *,
    maximize: bool,
    min_trials: int,
) -> list[str]:
    """Suggestions for the next search space, each with the number behind it.

    For each float or int parameter active (and not constant) in at least ``min_trials``
    trials, take the top
    quartile of those trials (the best ceil(n/4)). If at least half of them (and at least 2)
    lie within 5% of the range (log scale where log) of one edge: widen past that edge.
    Otherwise, if they span at most half the range: narrow the range to their min-max. For
    each optional term with at least 2 trials on each side: keep it on when its on-off
    interval is above 0, drop it when below 0 or when it contains 0 (no evidence).
    """
    lines = []
    for name, dist in distributions(trials).items():
        if isinstance(dist, CategoricalDistribution):
            continue
        idx = [i for i, t in enumerate(trials) if name in t.params]
        if len(idx) < min_trials or len({trials[i].params[name] for i in idx}) < 2:
            continue
        top = _top_quartile(values[idx], maximize)
        line = _range_line(name, dist, [trials[idx[i]].params[name] for i in top], len(idx))
        lines += [line] if line else []
    lines += [line for _, row in terms.iterrows() if (line := _term_line(row, maximize))]
    return lines
