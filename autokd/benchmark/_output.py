"""The benchmark's table as text, Markdown, CSV, a bar chart (PNG, offline HTML) and MLflow."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from autokd.logging import get_logger

if TYPE_CHECKING:
    import optuna

    from autokd.benchmark._benchmark import BenchmarkResult
    from autokd.config import StudyConfig

__all__ = ["record_benchmark", "render_markdown", "render_text", "summary"]

_logger = get_logger(__name__)
_CSV_HEADER = [
    "name",
    "title",
    "lr",
    "lr_note",
    "n",
    "test_mean",
    "test_std",
    "val_mean",
    "diff_mean",
    "diff_low",
    "diff_high",
    "verdict",
    "tests",
    "seconds",
    "error",
]


def _rows(result: BenchmarkResult) -> list[dict[str, Any]]:
    from autokd.benchmark._benchmark import mean_std

    rows = []
    for entry in result.entries:
        row: dict[str, Any] = {
            "name": entry.name,
            "title": entry.title,
            "lr": entry.lr,
            "lr_note": entry.lr_note or ("winner's" if entry.recipe is not None else ""),
            "n": len(entry.tests),
            "tests": " ".join(f"{t:.4f}" for t in entry.tests),
            "seconds": round(entry.seconds, 1),
            "error": entry.error or "",
        }
        if entry.tests and entry.error is None:
            row["test_mean"], row["test_std"] = mean_std(entry.tests)
            row["val_mean"] = mean_std(entry.vals)[0]
        diff = result.diffs.get(entry.name)
        if diff is not None:
            row.update(
                diff_mean=diff.mean, diff_low=diff.low, diff_high=diff.high, verdict=diff.verdict
            )
        rows.append(row)
    return rows


def summary(result: BenchmarkResult) -> dict[str, Any]:
    """A JSON-safe record (stored in the study, read by ``autokd report``)."""
    cost = result.cost
    return {
        "seeds": result.seeds,
        "tune_lr": result.tune_lr,
        "rows": _rows(result),
        "cost": {
            "student_epochs": cost.student_epochs,
            "full_trainings": round(cost.full_trainings, 2),
            "trials": cost.trials,
            "wall_seconds": round(cost.wall_seconds, 1),
        },
        "seconds": round(result.seconds, 1),
        "final_epochs": result.winner.recipe.optim.epochs if result.winner.recipe else None,
        "teacher_test_acc": teacher_test_acc(result),
    }


def teacher_test_acc(result: BenchmarkResult) -> float | None:
    """The teacher's recorded test accuracy (None when unknown)."""
    recipe = result.winner.recipe
    teacher = recipe.teacher if recipe is not None else None
    return None if teacher is None else teacher.test_acc


def headroom_note(record: dict[str, Any]) -> str:
    """A warning when the student without distillation is as good as its teacher.

    Distillation moves the student towards the teacher's outputs; a teacher that the student
    already matches on its own has nothing to transfer, and no recipe can be expected to beat
    ``no_kd``. Empty when there is no ``no_kd`` row or no recorded teacher accuracy.
    """
    teacher = record.get("teacher_test_acc")
    no_kd = next((r for r in record["rows"] if r["name"] == "no_kd" and "test_mean" in r), None)
    if teacher is None or no_kd is None or no_kd["test_mean"] < teacher:
        return ""
    return (
        f"Note: the student without distillation ({no_kd['test_mean']:.4f}) is as good as "
        f"its teacher (test {teacher:.4f}) at this budget: the teacher has little to teach, "
        "so no distillation recipe can be expected to beat no_kd. Use a stronger teacher."
    )


def _pm(row: dict[str, Any]) -> str:
    if "test_mean" not in row:
        return "failed" if row["error"] else "-"
    return f"{row['test_mean']:.4f} ± {row['test_std']:.4f}"


def _diff(row: dict[str, Any]) -> str:
    if "diff_mean" not in row:
        return ""
    return f"{row['diff_mean']:+.4f} [{row['diff_low']:+.4f}, {row['diff_high']:+.4f}]"


def _cost_line(record: dict[str, Any]) -> str:
    cost = record["cost"]
    return (
        f"Search cost: {cost['full_trainings']:.1f} full trainings of {record['final_epochs']} "
        f"epochs ({cost['student_epochs']} student-epochs over {cost['trials']} trials, "
        f"final_eval included); {cost['wall_seconds'] / 60:.1f} min of study time."
    )


def render_text(record: dict[str, Any]) -> str:
    """The table as printed by ``autokd benchmark``."""
    rows = record["rows"]
    n = len(record["seeds"])
    width = max(len(r["name"]) for r in rows)
    lines = [
        f"test accuracy over seeds {','.join(map(str, record['seeds']))} (mean ± std); "
        f"winner - baseline: paired mean [95% t-interval, n={n}]",
    ]
    for row in rows:
        lr = f"lr {row['lr']:.4g}" if row["lr"] is not None else ""
        tail = f"{_diff(row)}  {row.get('verdict', '')}" if "diff_mean" in row else ""
        err = f"  ({row['error']})" if row["error"] else ""
        lines.append(f"  {row['name']:{width}s}  {_pm(row):17s}  {lr:11s}  {tail}{err}".rstrip())
    lines.append(_cost_line(record))
    if note := headroom_note(record):
        lines.append(note)
    return "\n".join(lines)


def render_markdown(study: str, record: dict[str, Any]) -> str:
    """``benchmark.md``: the table, the verdicts and the search's cost."""
    n = len(record["seeds"])
    tuned = record["tune_lr"]
    lines = [
        f"# Benchmark of study '{study}'",
        "",
        f"Test accuracy of the study's winner and of each baseline at the same final budget "
        f"({record['final_epochs']} epochs; same data, split, augmentation, student, optimiser "
        f"and seeds {', '.join(map(str, record['seeds']))}). "
        + (
            f"Each baseline's learning rate was picked from {tuned} values on the validation "
            "split (column lr)."
            if tuned
            else "Every recipe uses the winner's learning rate."
        ),
        "",
        f"The difference is the winner's minus the baseline's test accuracy, per seed; shown "
        f"is its mean with the 95% t-interval over the n = {n} seeds. Verdict: **better** when "
        "the interval lies above 0, **worse** when below, **level** when it holds 0.",
        "",
        "| recipe | test acc (mean ± std) | winner − recipe [95% CI] | verdict | lr | per seed |",
        "|---|---|---|---|---|---|",
    ]
    for row in record["rows"]:
        lr = "" if row["lr"] is None else f"{row['lr']:.4g} ({row['lr_note']})"
        label = f"{row['name']}: {row['title']}"
        cells = [label, _pm(row), _diff(row), row.get("verdict", ""), lr, row["tests"]]
        if row["error"]:
            cells[-1] = f"failed: {row['error']}"
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines += ["", _cost_line(record), f"Benchmark time: {record['seconds'] / 60:.1f} min.", ""]
    if note := headroom_note(record):
        lines += [f"**{note}**", ""]
    return "\n".join(lines)


def _write_csv(record: dict[str, Any], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_CSV_HEADER, extrasaction="ignore")
        writer.writeheader()
        for row in record["rows"]:
            writer.writerow({k: "" if row.get(k) is None else row.get(k, "") for k in _CSV_HEADER})


def _bars(record: dict[str, Any]) -> tuple[list[str], list[float], list[float]]:
    """Names, means and 95% half-widths of each recipe's own test accuracy (t over seeds)."""
    from scipy import stats

    names, means, halves = [], [], []
    for row in record["rows"]:
        if "test_mean" not in row:
            continue
        n = row["n"]
        t = float(stats.t.ppf(0.975, n - 1)) if n > 1 else 0.0
        names.append(row["name"])
        means.append(row["test_mean"])
        halves.append(t * row["test_std"] / n**0.5)
    return names, means, halves


def _diffs(record: dict[str, Any]) -> tuple[list[str], list[float], list[float], list[float]]:
    """Baselines with a paired difference: names, means, and the interval's two ends."""
    rows = [r for r in record["rows"] if "diff_mean" in r]
    return (
        [r["name"] for r in rows],
        [r["diff_mean"] for r in rows],
        [r["diff_low"] for r in rows],
        [r["diff_high"] for r in rows],
    )


def _write_png(record: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, means, halves = _bars(record)
    n_seeds = len(record["seeds"])
    fig, (ax, ax_d) = plt.subplots(1, 2, figsize=(max(9.0, 1.3 * len(names) + 3), 4))
    try:
        colors = ["tab:orange" if n == "winner" else "tab:blue" for n in names]
        ax.bar(names, means, yerr=halves, capsize=4, color=colors)
        low = min(m - h for m, h in zip(means, halves, strict=True))
        high = max(m + h for m, h in zip(means, halves, strict=True))
        pad = max(0.005, 0.1 * (high - low))
        ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad))
        ax.set_ylabel("test accuracy (mean, 95% CI over seeds)")
        ax.set_title(f"each recipe, n={n_seeds} seeds")
        ax.tick_params(axis="x", rotation=30)
        d_names, d_means, d_low, d_high = _diffs(record)
        errors = [
            [m - lo for m, lo in zip(d_means, d_low, strict=True)],
            [hi - m for m, hi in zip(d_means, d_high, strict=True)],
        ]
        d_colors = [
            "tab:green" if lo > 0 else "tab:red" if hi < 0 else "tab:gray"
            for lo, hi in zip(d_low, d_high, strict=True)
        ]
        ax_d.bar(d_names, d_means, yerr=errors, capsize=4, color=d_colors)
        ax_d.axhline(0.0, color="black", linewidth=0.8)
        ax_d.set_ylabel("winner − recipe (paired mean, 95% CI)")
        ax_d.set_title("winner minus each baseline, per seed")
        ax_d.tick_params(axis="x", rotation=30)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)


def _write_html(record: dict[str, Any], path: Path) -> None:
    """The PNG's two panels as an offline plotly page: each recipe, and the paired gaps."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names, means, halves = _bars(record)
    d_names, d_means, d_low, d_high = _diffs(record)
    n_seeds = len(record["seeds"])
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            f"each recipe: test accuracy, mean and 95% CI (n={n_seeds} seeds)",
            "winner minus each baseline: paired mean and 95% CI",
        ),
    )
    fig.add_trace(
        go.Bar(
            x=names,
            y=means,
            error_y={"type": "data", "array": halves, "visible": True},
            marker_color=["#ff7f0e" if n == "winner" else "#1f77b4" for n in names],
            name="test accuracy",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=d_names,
            y=d_means,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [hi - m for m, hi in zip(d_means, d_high, strict=True)],
                "arrayminus": [m - lo for m, lo in zip(d_means, d_low, strict=True)],
                "visible": True,
            },
            marker_color=[
                "#2ca02c" if lo > 0 else "#d62728" if hi < 0 else "#7f7f7f"
                for lo, hi in zip(d_low, d_high, strict=True)
            ],
            name="paired difference",
        ),
        row=1,
        col=2,
    )
    fig.add_hline(y=0.0, line_color="black", line_width=1, row=1, col=2)
    fig.update_yaxes(title_text="test accuracy", row=1, col=1)
    fig.update_yaxes(title_text="paired difference", row=1, col=2)
    fig.update_layout(showlegend=False)
    # plotly.min.js next to the page (offline, shared with the report's pages when together).
    fig.write_html(path, include_plotlyjs="directory")


def record_benchmark(
    result: BenchmarkResult,
    config: StudyConfig,
    study: optuna.Study,
    *,
    tracking_uri: str | None = None,
) -> None:
    """Writes the files, stores the summary in the study and logs an MLflow run.

    The MLflow run is a child of the study's run (tag ``autokd.role = benchmark``), made once
    and updated by reruns, with the table's numbers as metrics and the files as artifacts.
    """
    out = result.out_dir
    record = summary(result)
    files = [out / "benchmark.md", out / "benchmark.csv", out / "benchmark.png"]
    files[0].write_text(render_markdown(result.study, record))
    _write_csv(record, files[1])
    _write_png(record, files[2])
    html = out / "benchmark.html"
    _write_html(record, html)
    recipes = out / "recipes"
    recipes.mkdir(exist_ok=True)
    for entry in result.entries:
        if entry.recipe is not None:
            entry.recipe.to_yaml(recipes / f"{entry.name}.yaml")
    # The page loads plotly.min.js from its folder: it travels with the page (MLflow too).
    result.files = [*files, html, out / "plotly.min.js", out / "runs.jsonl", recipes]
    from autokd.benchmark._benchmark import BENCHMARK_ATTR

    study.set_user_attr(BENCHMARK_ATTR, {**record, "folder": str(out)})
    _track(result, record, config, study, tracking_uri)


def _track(
    result: BenchmarkResult,
    record: dict[str, Any],
    config: StudyConfig,
    study: optuna.Study,
    flag: str | None,
) -> None:
    from autokd.tracking import MlflowTracker
    from autokd.tracking import default_artifact_location
    from autokd.tracking import resolve_tracking_uri

    parent = study.user_attrs.get("mlflow_parent_run_id")
    if parent is None:
        _logger.warning("benchmark: the study has no MLflow run; not tracked")
        return
    recorded = study.user_attrs.get("mlflow_tracking_uri")
    fallback = config.study.tracking_uri or (
        recorded if recorded and "***" not in recorded else None
    )
    out = config.output_dir
    uri = resolve_tracking_uri(flag, fallback, out)
    tracker = MlflowTracker(
        uri, config.study.name, artifact_location=default_artifact_location(uri, out)
    )
    run = tracker.child_run(parent, "benchmark", run_name="benchmark")
    # Tags, not params: a rerun with more seeds or recipes updates them.
    tracker.set_tags(
        run,
        {
            "benchmark.seeds": ",".join(map(str, result.seeds)),
            "benchmark.recipes": ",".join(e.name for e in result.entries),
            "benchmark.tune_lr": str(result.tune_lr),
            "benchmark.folder": str(result.out_dir),
        },
    )
    metrics: dict[str, float] = {
        "search_full_trainings": record["cost"]["full_trainings"],
        "search_student_epochs": record["cost"]["student_epochs"],
        "benchmark_seconds": record["seconds"],
    }
    for row in record["rows"]:
        for key in ("test_mean", "test_std", "diff_mean", "diff_low", "diff_high"):
            if key in row:
                metrics[f"{key}.{row['name']}"] = row[key]
    tracker.log_metrics(run, metrics, step=len(result.seeds))
    tracker.set_tags(
        run,
        {f"verdict.{name}": diff.verdict for name, diff in result.diffs.items()},
    )
    for path in result.files:
        if path.exists():
            tracker.log_artifact(run, path)
    tracker.end_run(run, "FINISHED")
