"""The Markdown sections of ``report.md`` written from an :class:`Analysis`."""

from __future__ import annotations

import math

import pandas as pd

from autokd.report._analysis import Analysis
from autokd.report._importance import EVIDENCE_EPS
from autokd.report._rungs import MIN_RHO
from autokd.report._tables import markdown_table

__all__ = [
    "ALL_TRIALS_CSV",
    "PD_PNG",
    "analysis_headline",
    "answer_sections",
    "importance_section",
    "search_next_section",
]

ALL_TRIALS_CSV = "importances_all_trials.csv"
PD_PNG = "partial_dependence.png"
_N_HEADLINE = 3


def _interval(low: float, high: float, digits: int = 3) -> str:
    if math.isnan(low):
        return "-"
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def analysis_headline(analysis: Analysis) -> str:
    """One paragraph: the parameters with evidence, best first, or the verdict sentence."""
    if analysis.verdict:
        return analysis.verdict
    top = analysis.importances.head(_N_HEADLINE)
    top = top[top["evidence"] == "evidence"]
    named = ", ".join(
        f"`{r.param}` ({r.median:.3f} {_interval(r.low, r.high)})" for r in top.itertuples()
    )
    rung = analysis.rung
    assert rung is not None  # No verdict means a rung was found.
    return (
        f"**What mattered most, from all {len(rung.trials)} usable trials** (at {rung.label}; "
        f"importance with 90% interval): {named}."
    )


def _basis(analysis: Analysis) -> list[str]:
    lines = [f"- {note}" for note in analysis.notes]
    if analysis.rung is not None:
        lines.insert(0, f"- Figures rest on {analysis.rung.describe()}.")
    return lines


def importance_section(analysis: Analysis) -> list[str]:
    """``## What mattered (all trials)``: the rung, then the table or the verdict."""
    lines = ["## What mattered (all trials)", "", *_basis(analysis), ""]
    if analysis.verdict:
        return [*lines, analysis.verdict]
    rows = [
        (
            rank,
            f"`{r.param}`",
            f"{r.median:.3f}",
            _interval(r.low, r.high),
            r.evidence,
            r.n_trials,
            r.rung,
        )
        for rank, r in enumerate(analysis.importances.itertuples(), start=1)
    ]
    header = ["Rank", "Parameter", "Importance", "90% interval", "Evidence", "Trials", "Rung"]
    return [
        *lines,
        "Steps are epochs as the trials reported them, from 0; a pruned trial counts at every "
        "step it reached, so early steps hold most trials. The rung shown is the latest one "
        f"reached by enough trials whose values rank the complete trials as their final "
        f"values do (Spearman at least {MIN_RHO}). Importance: rise in a random forest's "
        "out-of-bag squared error when the parameter is scrambled, over the variance of the "
        "values; median and 5th-95th percentile over bootstrap resamples of the trials. "
        f'"no evidence": the interval\'s lower end is at most {EVIDENCE_EPS}; such parameters '
        f"always rank below those with evidence. Table: [{ALL_TRIALS_CSV}]({ALL_TRIALS_CSV}).",
        "",
        *markdown_table(header, rows),
    ]


def _on_off(diff: float, low: float, high: float) -> str:
    if math.isnan(diff):
        return "-"
    if math.isnan(low):
        return f"{diff:+.4f} (no interval)"
    return f"{diff:+.4f} {_interval(low, high, 4)}"


def _terms(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return []
    rows = [
        (
            f"`{r.term}`",
            r.n_on,
            r.n_off,
            "-" if math.isnan(r.mean_on) else f"{r.mean_on:.4f}",
            "-" if math.isnan(r.mean_off) else f"{r.mean_off:.4f}",
            _on_off(r.diff, r.low, r.high),
        )
        for r in frame.itertuples()
    ]
    header = ["Term", "Trials on", "Trials off", "Mean on", "Mean off", "On − off [95% CI]"]
    return [
        "### Loss terms on vs off",
        "",
        "Mean value at the rung with the term on minus off; 95% Welch t-interval (none "
        "when a side has fewer than 2 trials). A raw comparison: other parameters vary too.",
        "",
        *markdown_table(header, rows),
        "",
    ]


def _groups(groups: dict[str, pd.DataFrame]) -> list[str]:
    if not groups:
        return []
    lines = ["### Schedules, layer pairs and student size", ""]
    for param, frame in groups.items():
        extra = [c for c in ("student_params", "student_macs") if c in frame]
        header = ["Choice", "Trials", "Mean", *(f"Median {c}" for c in extra)]
        rows = [
            (r["choice"], r["n"], r["mean"], *(r[c] for c in extra)) for _, r in frame.iterrows()
        ]
        lines += [f"`{param}`:", "", *markdown_table(header, rows), ""]
    return lines


def _curves(curves: dict[str, pd.DataFrame]) -> list[str]:
    if not curves:
        return []
    rows = []
    for param, frame in curves.items():
        best = frame.loc[frame["predicted"].idxmax()]
        low_high = f"{frame['predicted'].min():.4f}–{frame['predicted'].max():.4f}"
        rows.append(
            (f"`{param}`", int(frame["n"].iloc[0]), best["value"], best["predicted"], low_high)
        )
    header = ["Parameter", "Trials", "Best value", "Predicted there", "Predicted range"]
    return [
        "### Learning rate, temperature and alpha (partial dependence)",
        "",
        "A forest's prediction averaged over the trials that have the parameter, at 11 "
        "points across its search range (log-spaced for log ranges); the range shows how "
        f"much the parameter moves the value. Curves: [{PD_PNG}]({PD_PNG}).",
        "",
        *markdown_table(header, rows),
        "",
        f"![Partial dependence]({PD_PNG})",
        "",
    ]


def answer_sections(analysis: Analysis) -> list[str]:
    """``## Distillation answers``; empty when there is too little evidence."""
    if analysis.rung is None:
        return []
    body = [*_terms(analysis.terms), *_groups(analysis.groups), *_curves(analysis.curves)]
    if not body:
        return []
    head = ["## Distillation answers", "", f"From the same rung ({analysis.rung.label}).", ""]
    while body and not body[-1]:
        body.pop()
    return [*head, *body]


def search_next_section(analysis: Analysis) -> list[str]:
    """``## What to search next``: one bullet per suggestion, with its numbers."""
    if analysis.rung is None:
        return []
    lines = [f"- {line}" for line in analysis.next_steps] or [
        "- No range or term change is supported by these trials."
    ]
    return ["## What to search next", "", *lines]
