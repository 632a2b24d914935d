"""Parameter importances of a study, and the report folder written from them."""

from __future__ import annotations

from collections.abc import Mapping
import math
from pathlib import Path
import warnings

import optuna
from optuna.importance import FanovaImportanceEvaluator
from optuna.importance import PedAnovaImportanceEvaluator
from optuna.trial import TrialState
import pandas as pd

from autokd.exceptions import AutokdError
from autokd.logging import get_logger
from autokd.report._analysis import Analysis
from autokd.report._analysis import analyse_study
from autokd.report._findings import ALL_TRIALS_CSV
from autokd.report._findings import PD_PNG
from autokd.report._markdown import ranks_something
from autokd.report._markdown import render_report
from autokd.report._plots import write_partial_dependence
from autokd.report._plots import write_plots

__all__ = ["compute_importances", "write_report"]

# Columns of trials.csv, in trials_dataframe's vocabulary; params_* and user_attrs_* expand.
_TRIAL_ATTRS = (
    "number",
    "state",
    "value",
    "params",
    "datetime_start",
    "datetime_complete",
    "duration",
    "user_attrs",
)

_logger = get_logger(__name__)


def _empty_importances() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "param": pd.Series(dtype=object),
            "ped_anova": pd.Series(dtype=float),
            "fanova": pd.Series(dtype=float),
        }
    )


def _importances(study: optuna.Study) -> tuple[pd.DataFrame, str]:
    """Returns the importance frame and why fANOVA failed as a whole ("" if it ran)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    names = sorted({name for trial in complete for name in trial.params})
    if len(complete) < 2 or not names:
        return _empty_importances(), ""
    ped = optuna.importance.get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
    fanova_error = ""
    try:
        fanova = optuna.importance.get_param_importances(
            study, evaluator=FanovaImportanceEvaluator(seed=0)
        )
    except Exception as exc:  # An empty intersection space, a multi-objective study...
        fanova, fanova_error = {}, f"{type(exc).__name__}: {exc}"
        _logger.info("fANOVA importances skipped: %s", fanova_error)
    frame = pd.DataFrame(
        {
            "param": names,
            "ped_anova": [float(ped.get(name, math.nan)) for name in names],
            "fanova": [float(fanova.get(name, math.nan)) for name in names],
        }
    )
    # The name breaks ties so that equal importances always come out in the same order.
    frame = frame.sort_values(
        ["ped_anova", "param"], ascending=[False, True], na_position="last", kind="stable"
    )
    return frame.reset_index(drop=True), fanova_error


def compute_importances(study: optuna.Study) -> pd.DataFrame:
    """Ranks the study's parameters by PED-ANOVA and fANOVA importance.

    Both evaluators are normalised so each column sums to 1 over the parameters it scores.
    PED-ANOVA (Optuna 5's default) scores every parameter, conditional ones included. fANOVA
    only uses the intersection search space, so a parameter missing from some complete trial
    (a temperature sampled only when KD is on) gets NaN there rather than silently vanishing.

    Args:
        study: A single-objective study.

    Returns:
        A frame with columns ``param``, ``ped_anova`` and ``fanova``: one row per parameter
        seen in a COMPLETE trial, sorted by ``ped_anova`` descending. It is empty (with those
        columns) when the study has fewer than 2 complete trials or no parameters. If fANOVA
        raises, its column is all NaN and a warning is logged.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        >>> study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=10)
        >>> compute_importances(study)["param"].tolist()
        ['x']
    """
    return _importances(study)[0]


def _write_trials_csv(study: optuna.Study, path: Path) -> None:
    frame = study.trials_dataframe(attrs=_TRIAL_ATTRS)
    if "duration" in frame:
        # Seconds read better than pandas' "0 days 00:01:02.5" and parse back as floats.
        position = frame.columns.get_loc("duration")
        frame.insert(position, "duration_s", frame.pop("duration").dt.total_seconds())
    frame.to_csv(path, index=False)


def write_report(
    study: optuna.Study, out_dir: Path, *, summary: Mapping[str, object] | None = None
) -> list[Path]:
    """Writes a study's report folder: importances, trial table, Markdown summary and plots.

    ``report.md`` opens with the parameters that mattered most, then a summary table (trial
    counts per state, best value, trial and params, and every entry of ``summary``), the
    all-trial analysis of :func:`autokd.report.analyse_study` (importances with 90% intervals
    at a learning-curve rung, loss terms on vs off, per-choice means, partial dependence,
    what to search next), the complete-trial importance table of both evaluators with the
    parameters fANOVA dropped (or one sentence when PED-ANOVA ranks all equally), and the
    plots. Library warnings raised meanwhile go to ``report.log``, not the terminal.
    Each plot is written as offline HTML (sharing one ``plotly.min.js``) and as PNG. Plots the
    study cannot support yet (fewer than 2 complete trials for importances, no intermediate
    values) are skipped with a note in ``report.md``.

    Args:
        study: A single-objective study; trials may be in any state.
        out_dir: Folder to write into; created with its parents if missing. Files already
            there with the same names are overwritten.
        summary: Extra rows for the summary table, such as ``{"teacher accuracy": 0.981}``.

    Returns:
        The paths written: ``importances.csv`` (complete trials), ``importances_all_trials.csv``,
        ``trials.csv``, ``report.md``, ``report.log``, ``partial_dependence.png`` (when there
        are curves), then the plot files (``<plot>.html``, ``<plot>.png``, ``plotly.min.js``).

    Raises:
        AutokdError: If the study has more than one objective.

    Example:
        >>> import optuna, pathlib, tempfile
        >>> study = optuna.create_study(study_name="demo")
        >>> study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=5)
        >>> paths = write_report(study, pathlib.Path(tempfile.mkdtemp()))  # doctest: +SKIP
    """
    if len(study.directions) != 1:
        raise AutokdError(
            f"write_report expects a single-objective study, but study {study.study_name!r} "
            f"has {len(study.directions)} objectives. Report one objective at a time."
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(record=True) as caught:  # Into report.log, not the terminal.
        warnings.simplefilter("always")
        importances, fanova_error = _importances(study)
        n_complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        skip = {}
        if not importances.empty and not ranks_something(importances, n_complete):
            skip["param_importances"] = (
                "complete-trial importances omitted; see What mattered (all trials)"
            )
        plots = write_plots(study, out_dir, skip=skip)
    analysis = analyse_study(study)
    names = ("importances.csv", ALL_TRIALS_CSV, "trials.csv", "report.md", "report.log")
    paths = [out_dir / name for name in names]
    importances.to_csv(paths[0], index=False)
    analysis.importances.to_csv(paths[1], index=False)
    _write_trials_csv(study, paths[2])
    if analysis.curves:
        paths.append(write_partial_dependence(analysis.curves, out_dir / PD_PNG))
    text = render_report(
        study,
        importances,
        fanova_error=fanova_error,
        plots=plots,
        summary=summary or {},
        analysis=analysis,
    )
    paths[3].write_text(text, encoding="utf-8")
    _write_log(paths[4], [_warning_text(w) for w in caught], fanova_error, analysis)
    return paths + [path for plot in plots for path in plot.files]


def _warning_text(caught: warnings.WarningMessage) -> str:
    return f"{caught.category.__name__}: {caught.message} ({caught.filename}:{caught.lineno})"


def _write_log(path: Path, complete: list[str], fanova_error: str, analysis: Analysis) -> None:
    """report.log: what the libraries warned about while the report was computed."""
    lines = [f"complete-trial importances and plots: {text}" for text in complete]
    lines += [f"complete-trial importances: fANOVA failed: {fanova_error}"] * bool(fanova_error)
    lines += [f"all-trial analysis: {text}" for text in analysis.warnings]
    path.write_text("\n".join(lines or ["No warnings."]) + "\n", encoding="utf-8")
