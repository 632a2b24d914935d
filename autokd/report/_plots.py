"""Optuna's plots of a study, as offline HTML (plotly) and PNG (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
import warnings

import optuna
from optuna.trial import TrialState
import pandas as pd

__all__ = ["PLOTS", "PlotResult", "write_partial_dependence", "write_plots"]

PNG_DPI = 120


@dataclass(frozen=True)
class _PlotSpec:
    stem: str  # File name without suffix, also the plotting function's name after "plot_".
    title: str
    # Returns why the plot cannot be drawn for this study, or "" if it can.
    skip_reason: Callable[[optuna.Study], str]


@dataclass(frozen=True)
class PlotResult:
    """What :func:`write_plots` did for one plot: the files written, or why it skipped them."""

    stem: str
    title: str
    files: tuple[Path, ...]
    skipped: str = ""


def _n_complete(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def _needs_complete(study: optuna.Study) -> str:
    return "" if _n_complete(study) else "no trial completed"


def _needs_two_complete(study: optuna.Study) -> str:
    n = _n_complete(study)
    if n < 2:
        return f"importances need at least 2 complete trials, but the study has {n}"
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return "" if any(t.params for t in trials) else "the complete trials have no parameters"


def _needs_intermediate(study: optuna.Study) -> str:
    has_values = any(t.intermediate_values for t in study.get_trials(deepcopy=False))
    return "" if has_values else "no trial reported intermediate values"


PLOTS = (
    _PlotSpec("optimization_history", "Optimization history", _needs_complete),
    _PlotSpec("param_importances", "Parameter importances (PED-ANOVA)", _needs_two_complete),
    _PlotSpec("intermediate_values", "Intermediate values", _needs_intermediate),
)


def _plot_kwargs(stem: str) -> dict[str, Any]:
    if stem == "param_importances":
        # NOTE(report): PED-ANOVA keeps conditional parameters; fANOVA would silently drop them.
        return {"evaluator": optuna.importance.PedAnovaImportanceEvaluator()}
    return {}


def _write_html(study: optuna.Study, spec: _PlotSpec, out_dir: Path) -> Path:
    import optuna.visualization as vis

    fig = getattr(vis, f"plot_{spec.stem}")(study, **_plot_kwargs(spec.stem))
    path = out_dir / f"{spec.stem}.html"
    # "directory" writes plotly.min.js once next to the pages (~4.7 MB) and links to it, so
    # every page works offline without inlining the library three times.
    fig.write_html(path, include_plotlyjs="directory")
    return path


def _write_png(study: optuna.Study, spec: _PlotSpec, out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # Headless: no display, no Chromium needed.
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis_mpl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = getattr(vis_mpl, f"plot_{spec.stem}")(study, **_plot_kwargs(spec.stem))
    fig = getattr(axes, "flat", [axes])[0].figure
    path = out_dir / f"{spec.stem}.png"
    try:
        with warnings.catch_warnings():  # a long legend cannot always be laid out tightly
            warnings.filterwarnings("ignore", "Tight layout not applied", UserWarning)
            fig.savefig(path, dpi=PNG_DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def write_plots(
    study: optuna.Study, out_dir: Path, *, skip: Mapping[str, str] | None = None
) -> list[PlotResult]:
    """Writes each of :data:`PLOTS` as ``<stem>.html`` and ``<stem>.png`` into ``out_dir``.

    A plot the study cannot support (no complete trial, no intermediate values, fewer than
    two complete trials for importances) is skipped and its reason recorded.

    Args:
        study: A single-objective study.
        out_dir: An existing folder.
        skip: Plots not to draw (by stem), each with the reason to record.

    Returns:
        One :class:`PlotResult` per entry of :data:`PLOTS`, in order. ``plotly.min.js`` is
        listed with the first HTML page written.
    """
    results = []
    for spec in PLOTS:
        reason = (skip or {}).get(spec.stem) or spec.skip_reason(study)
        if reason:
            results.append(PlotResult(spec.stem, spec.title, (), skipped=reason))
            continue
        files = [_write_html(study, spec, out_dir), _write_png(study, spec, out_dir)]
        if not any(r.files for r in results):
            files.append(out_dir / "plotly.min.js")
        results.append(PlotResult(spec.stem, spec.title, tuple(files)))
    return results


def write_partial_dependence(curves: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """Draws each partial-dependence curve (``value`` vs ``predicted``) side by side as PNG.

    Args:
        curves: Per parameter, a frame with ``value``, ``predicted`` and ``log`` columns.
        path: The PNG to write.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 3.0), squeeze=False)
    try:
        for ax, (name, frame) in zip(axes[0], curves.items(), strict=True):
            ax.plot(frame["value"], frame["predicted"], marker="o", markersize=3)
            ax.set_xscale("log" if bool(frame["log"].iloc[0]) else "linear")
            ax.set_title(name, fontsize=8)
            ax.tick_params(labelsize=7)
        axes[0][0].set_ylabel("predicted value", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=PNG_DPI)
    finally:
        plt.close(fig)
    return path
