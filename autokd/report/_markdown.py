"""The ``report.md`` text: what mattered, the summary table, importances and plot links."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
import math

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pandas as pd

from autokd.report._analysis import Analysis
from autokd.report._findings import analysis_headline
from autokd.report._findings import answer_sections
from autokd.report._findings import importance_section
from autokd.report._findings import search_next_section
from autokd.report._plots import PlotResult
from autokd.report._rungs import MIN_TRIALS
from autokd.report._tables import format_value
from autokd.report._tables import markdown_table

__all__ = ["format_value", "render_report"]

COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
_N_HEADLINE = 3  # Parameters named in the opening line.


def _importance(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _best_trial(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:  # No complete trial yet.
        return None


def ranks_something(importances: pd.DataFrame, n_complete: int) -> bool:
    """Whether the complete-trial importances are worth showing: at least ``MIN_TRIALS``
    complete trials, and a PED-ANOVA column that tells parameters apart (not all equal)."""
    ped = importances["ped_anova"].dropna()
    return n_complete >= MIN_TRIALS and len(ped) > 1 and float(ped.max() - ped.min()) > 1e-9


def _headline(importances: pd.DataFrame, n_complete: int) -> list[str]:
    if importances.empty:
        return [
            "Parameter importances need at least 2 complete trials with parameters; this "
            f"study has {n_complete} complete trial(s), so the importances and their plot are "
            "skipped."
        ]
    if not ranks_something(importances, n_complete):
        return []
    top = importances.head(_N_HEADLINE).itertuples()
    named = ", ".join(f"`{row.param}` ({_importance(row.ped_anova)})" for row in top)
    return [
        f"**What mattered most** (complete trials, PED-ANOVA, share of total importance): {named}."
    ]


def _summary(study: optuna.Study, summary: Mapping[str, object]) -> list[str]:
    trials = study.get_trials(deepcopy=False)
    rows: list[tuple[str, object]] = [
        ("Study", study.study_name),
        ("Direction", study.direction.name.lower()),
        ("Trials", len(trials)),
    ]
    rows += [(state.name, sum(t.state == state for t in trials)) for state in COUNTED_STATES]
    best = _best_trial(study)
    if best is None:
        rows.append(("Best value", "- (no complete trial)"))
    else:
        rows += [("Best value", best.value), ("Best trial", best.number)]
        rows += [(f"Best `{name}`", value) for name, value in sorted(best.params.items())]
    rows += [(str(key), value) for key, value in summary.items()]
    return ["## Summary", "", *markdown_table(["Item", "Value"], rows)]


def _dropped_note(
    importances: pd.DataFrame, presence: Mapping[str, int], n_complete: int, fanova_error: str
) -> list[str]:
    if fanova_error:
        return [f"fANOVA failed and scored no parameter: `{fanova_error}`."]
    dropped = importances.loc[importances["fanova"].isna(), "param"].tolist()
    if not dropped:
        return ["fANOVA scored every parameter (each one is present in every complete trial)."]
    named = ", ".join(f"`{p}` (in {presence[p]} of {n_complete})" for p in dropped)
    return [
        f"fANOVA dropped {named}: not present in every complete trial. fANOVA only uses the "
        "parameters every trial shares, so conditional parameters get no fANOVA score; read "
        "their PED-ANOVA score instead."
    ]


def _omitted(importances: pd.DataFrame, n_complete: int, fanova_error: str) -> str:
    failed = f" fANOVA failed: `{fanova_error}`." if fanova_error else ""
    ped = importances["ped_anova"].dropna()
    if n_complete < MIN_TRIALS:
        why = f"only {n_complete} complete trials (they need {MIN_TRIALS})"
    else:
        why = f"PED-ANOVA scored all {len(ped)} parameters equally ({ped.iloc[0]:.3f} each)"
    return (
        f"Complete-trial importances (PED-ANOVA, fANOVA) omitted: {why}.{failed} See "
        '"What mattered (all trials)" above.'
    )


def _importance_section(
    study: optuna.Study, importances: pd.DataFrame, fanova_error: str
) -> list[str]:
    if importances.empty:
        return []
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not ranks_something(importances, len(complete)):
        return ["## Parameter importances", "", _omitted(importances, len(complete), fanova_error)]
    presence = {p: sum(p in t.params for t in complete) for p in importances["param"]}
    rows = [
        (
            rank,
            f"`{row.param}`",
            _importance(row.ped_anova),
            _importance(row.fanova),
            f"{presence[row.param]}/{len(complete)}",
        )
        for rank, row in enumerate(importances.itertuples(), start=1)
    ]
    header = ["Rank", "Parameter", "PED-ANOVA", "fANOVA", "In complete trials"]
    return [
        "## Parameter importances",
        "",
        f"Complete trials only ({len(complete)}). Each column sums to 1. PED-ANOVA (Optuna's "
        "default) compares the best 10% of complete "
        "trials with all of them and keeps conditional parameters; fANOVA fits a random forest "
        "(seed 0) on the parameters shared by every complete trial. Full table: "
        "[importances.csv](importances.csv); every trial: [trials.csv](trials.csv).",
        "",
        *markdown_table(header, rows),
        "",
        *_dropped_note(importances, presence, len(complete), fanova_error),
    ]


def _plot_section(plots: Iterable[PlotResult]) -> list[str]:
    lines = ["## Plots", ""]
    for plot in plots:
        if plot.skipped:
            lines += [f"- {plot.title}: skipped ({plot.skipped}).", ""]
            continue
        lines += [
            f"- {plot.title}: [interactive]({plot.stem}.html) · [PNG]({plot.stem}.png)",
            "",
            f"  ![{plot.title}]({plot.stem}.png)",
            "",
        ]
    return lines


def _benchmark_section(study: optuna.Study) -> list[str]:
    """The last ``autokd benchmark`` of the study, from its stored summary (none: empty)."""
    record = study.user_attrs.get("benchmark")
    if not isinstance(record, dict) or not record.get("rows"):
        return []
    seeds = record["seeds"]
    lines = [
        "## Benchmark: the winner against the baselines",
        "",
        f"Test accuracy at the final budget over seeds {', '.join(map(str, seeds))}; the "
        f"difference is the winner's minus the baseline's, per seed, with its 95% t-interval "
        f"(n = {len(seeds)}). Files: `{record.get('folder', '')}`.",
        "",
    ]
    rows = []
    for row in record["rows"]:
        acc = (
            f"{row['test_mean']:.4f} ± {row['test_std']:.4f}"
            if "test_mean" in row
            else f"failed: {row.get('error', '')}"
        )
        diff = (
            f"{row['diff_mean']:+.4f} [{row['diff_low']:+.4f}, {row['diff_high']:+.4f}]"
            if "diff_mean" in row
            else ""
        )
        rows.append([f"{row['name']}: {row['title']}", acc, diff, row.get("verdict", "")])
    lines += markdown_table(["recipe", "test acc", "winner − recipe [95% CI]", "verdict"], rows)
    cost = record["cost"]
    lines += [
        "",
        f"Search cost: {cost['full_trainings']:.1f} full trainings ({cost['student_epochs']} "
        f"student-epochs over {cost['trials']} trials, final_eval included).",
    ]
    return lines


def render_report(
    study: optuna.Study,
    importances: pd.DataFrame,
    *,
    fanova_error: str,
    plots: Iterable[PlotResult],
    summary: Mapping[str, object],
    analysis: Analysis | None = None,
) -> str:
    """Returns the Markdown of ``report.md``; see :func:`autokd.report.write_report`."""
    n_complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    sections = [
        [f"# Study report: {study.study_name}"],
        _headline(importances, n_complete),
        [analysis_headline(analysis)] if analysis else [],
        _summary(study, summary),
        _benchmark_section(study),
        importance_section(analysis) if analysis else [],
        answer_sections(analysis) if analysis else [],
        search_next_section(analysis) if analysis else [],
        _importance_section(study, importances, fanova_error),
        _plot_section(plots),
    ]
    return "\n\n".join("\n".join(s) for s in sections if s).rstrip() + "\n"
