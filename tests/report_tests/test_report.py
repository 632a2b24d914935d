"""Importances and the report folder, on studies whose dependence on each parameter is known."""

from __future__ import annotations

from pathlib import Path
import re
import struct

import optuna
from optuna.trial import TrialState
import pandas as pd
import pytest

from autokd.exceptions import AutokdError
from autokd.report import compute_importances
from autokd.report import write_report

N_TRIALS = 40
SUMMARY = {"teacher accuracy": 0.981, "dataset": "digits"}
PLOT_STEMS = ("optimization_history", "param_importances", "intermediate_values")


def _objective(trial: optuna.Trial) -> float:
    # value = 10 x + 0.01 y (+ 6 z - 3 when use_z): x matters, y barely, z strongly but only
    # in the trials that sample it, so fANOVA's intersection space cannot see it.
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    value = 10.0 * x + 0.01 * y
    if trial.suggest_categorical("use_z", [True, False]):
        value += 6.0 * trial.suggest_float("z", 0.0, 1.0) - 3.0
    trial.report(value, step=0)
    trial.set_user_attr("run_id", f"run-{trial.number}")
    if trial.number % 10 == 3:
        raise optuna.TrialPruned()
    if trial.number % 10 == 7:
        raise RuntimeError("simulated training crash")
    return value


def _make_study(name: str = "kd-demo") -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(study_name=name, sampler=sampler)
    study.optimize(_objective, n_trials=N_TRIALS, catch=(RuntimeError,))
    study.ask()  # One trial left RUNNING, as a crashed worker would leave it.
    return study


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    return _make_study()


@pytest.fixture(scope="module")
def report(study: optuna.Study, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    out_dir = tmp_path_factory.mktemp("report") / "nested" / "out"
    return out_dir, write_report(study, out_dir, summary=SUMMARY)


def _cells(line: str) -> list[str]:
    # Splits a Markdown table row on unescaped pipes.
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _table(text: str, title: str) -> list[list[str]]:
    rows = [_cells(line) for line in _section(text, title).splitlines() if line.startswith("|")]
    return rows[2:]  # Drops the header and the separator.


def _summary(text: str) -> dict[str, str]:
    return dict(_table(text, "Summary"))


def test_x_ranks_above_y_in_both_evaluators(study: optuna.Study) -> None:
    # x moves the value 1000 times more than y, so both evaluators must rank it higher.
    frame = compute_importances(study).set_index("param")
    assert frame.loc["x", "ped_anova"] > frame.loc["y", "ped_anova"]
    assert frame.loc["x", "fanova"] > frame.loc["y", "fanova"]


def test_conditional_param_kept_by_ped_anova_and_nan_in_fanova(study: optuna.Study) -> None:
    # z is sampled only when use_z is True: PED-ANOVA scores it, fANOVA drops it (NaN).
    frame = compute_importances(study).set_index("param")
    assert set(frame.index) == {"x", "y", "use_z", "z"}
    assert frame.loc["z", "ped_anova"] > frame.loc["y", "ped_anova"]
    assert pd.isna(frame.loc["z", "fanova"])
    assert frame.drop(index="z")["fanova"].notna().all()


def test_importances_columns_order_and_normalisation(study: optuna.Study) -> None:
    # Exact columns, sorted by PED-ANOVA descending, each evaluator summing to 1.
    frame = compute_importances(study)
    assert list(frame.columns) == ["param", "ped_anova", "fanova"]
    assert frame["ped_anova"].is_monotonic_decreasing
    assert frame["ped_anova"].sum() == pytest.approx(1.0)
    assert frame["fanova"].sum(skipna=True) == pytest.approx(1.0)


def test_importances_are_reproducible(study: optuna.Study) -> None:
    # Both evaluators are seeded, so two calls give the same numbers.
    pd.testing.assert_frame_equal(compute_importances(study), compute_importances(study))


def test_importances_csv_round_trips(study: optuna.Study, report: tuple[Path, list]) -> None:
    # importances.csv reads back as the frame compute_importances returns, NaN included.
    out_dir, _ = report
    frame = pd.read_csv(out_dir / "importances.csv")
    pd.testing.assert_frame_equal(frame, compute_importances(study), check_exact=False, rtol=1e-12)


def test_trials_csv_has_every_trial(study: optuna.Study, report: tuple[Path, list]) -> None:
    # trials.csv holds one row per trial with its state, value, params, duration and user attrs.
    out_dir, _ = report
    frame = pd.read_csv(out_dir / "trials.csv")
    trials = study.get_trials()
    assert frame["number"].tolist() == [t.number for t in trials]
    assert frame["state"].tolist() == [t.state.name for t in trials]
    assert {"value", "params_x", "params_z", "duration_s", "user_attrs_run_id"} <= set(frame)
    complete = frame[frame["state"] == "COMPLETE"]
    expected = {t.number: t.value for t in trials if t.state == TrialState.COMPLETE}
    assert complete.set_index("number")["value"].to_dict() == pytest.approx(expected)
    assert (complete["duration_s"] >= 0).all()


def test_report_counts_match_trial_states(study: optuna.Study, report: tuple[Path, list]) -> None:
    # The summary table counts each state as the study does (all four occur here).
    out_dir, _ = report
    summary = _summary((out_dir / "report.md").read_text())
    trials = study.get_trials()
    assert int(summary["Trials"]) == len(trials) == N_TRIALS + 1
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING):
        real = sum(t.state == state for t in trials)
        assert real > 0
        assert int(summary[state.name]) == real


def test_report_best_trial_matches_study(study: optuna.Study, report: tuple[Path, list]) -> None:
    # Best value, number and params in report.md are those of study.best_trial.
    out_dir, _ = report
    text = (out_dir / "report.md").read_text()
    summary = _summary(text)
    best = study.best_trial
    assert text.startswith(f"# Study report: {study.study_name}\n")
    assert float(summary["Best value"]) == pytest.approx(best.value, rel=1e-5)
    assert int(summary["Best trial"]) == best.number
    for name, value in best.params.items():
        cell = summary[f"Best `{name}`"]
        if isinstance(value, float):
            assert float(cell) == pytest.approx(value, rel=1e-5)
        else:
            assert cell == str(value)


def test_report_lists_summary_entries(report: tuple[Path, list]) -> None:
    # Every key of `summary` gets its own row with its value.
    out_dir, _ = report
    summary = _summary((out_dir / "report.md").read_text())
    assert summary["teacher accuracy"] == "0.981"
    assert summary["dataset"] == "digits"


def test_report_importance_table_matches_frame(
    study: optuna.Study, report: tuple[Path, list]
) -> None:
    # The Markdown table shows both evaluators to 3 decimals, "-" where fANOVA gave NaN.
    out_dir, _ = report
    rows = _table((out_dir / "report.md").read_text(), "Parameter importances")
    frame = compute_importances(study)
    assert [r[1].strip("`") for r in rows] == frame["param"].tolist()
    for row, expected in zip(rows, frame.itertuples(), strict=True):
        assert row[2] == f"{expected.ped_anova:.3f}"
        assert row[3] == ("-" if pd.isna(expected.fanova) else f"{expected.fanova:.3f}")
    assert rows[[r[1] for r in rows].index("`z`")][3] == "-"


def test_report_names_params_dropped_by_fanova(report: tuple[Path, list]) -> None:
    # The note names z (and only z) and says why: it is not present in every trial.
    out_dir, _ = report
    text = (out_dir / "report.md").read_text()
    note = next(line for line in text.splitlines() if line.startswith("fANOVA dropped"))
    assert "`z`" in note and "not present in every" in note
    assert not any(f"`{p}`" in note for p in ("x", "y", "use_z"))


def test_report_opens_with_most_important_params(
    study: optuna.Study, report: tuple[Path, list]
) -> None:
    # The paragraph under the title names the top 3 parameters by PED-ANOVA, in order.
    out_dir, _ = report
    headline = (out_dir / "report.md").read_text().split("\n\n")[1]
    assert headline.startswith("**What mattered most**")
    named = re.findall(r"`([^`]+)`", headline)
    assert named == compute_importances(study)["param"].head(3).tolist()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_pngs_are_real_images(report: tuple[Path, list]) -> None:
    # Each PNG has the PNG signature, a sensible pixel size and real content.
    out_dir, _ = report
    for stem in PLOT_STEMS:
        path = out_dir / f"{stem}.png"
        width, height = _png_size(path)
        assert width >= 300 and height >= 200
        assert path.stat().st_size > 10_000


def test_htmls_load_local_plotly(report: tuple[Path, list]) -> None:
    # Each page links the one plotly.min.js next to it (offline), not a CDN or an inlined copy.
    out_dir, _ = report
    script = out_dir / "plotly.min.js"
    assert script.stat().st_size > 1_000_000
    for stem in PLOT_STEMS:
        html = (out_dir / f"{stem}.html").read_text()
        assert 'src="plotly.min.js"' in html
        assert "cdn.plot.ly" not in html
        assert len(html) < 200_000


def test_report_links_every_plot(report: tuple[Path, list]) -> None:
    # report.md links each plot's HTML and PNG by relative path.
    out_dir, _ = report
    plots = _section((out_dir / "report.md").read_text(), "Plots")
    for stem in PLOT_STEMS:
        assert f"]({stem}.html)" in plots and f"]({stem}.png)" in plots
    assert "skipped" not in plots


def test_returned_paths_are_exactly_the_files_written(report: tuple[Path, list]) -> None:
    # The returned list names every file in out_dir once, and nothing else (no lr,
    # temperature or alpha here, so no partial-dependence PNG).
    out_dir, paths = report
    assert sorted(paths) == sorted(out_dir.iterdir())
    tables = ("importances.csv", "importances_all_trials.csv", "trials.csv")
    plots = {f"{stem}.{ext}" for stem in PLOT_STEMS for ext in ("html", "png")}
    expected = {*tables, "report.md", "report.log", "plotly.min.js", *plots}
    assert len(paths) == len(expected) and {p.name for p in paths} == expected


def test_fewer_than_two_complete_trials(tmp_path: Path) -> None:
    # One complete trial: empty importances with the columns, a note, no importance plot.
    study = optuna.create_study(study_name="tiny")
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
    frame = compute_importances(study)
    assert frame.empty and list(frame.columns) == ["param", "ped_anova", "fanova"]
    paths = write_report(study, tmp_path)
    assert pd.read_csv(tmp_path / "importances.csv").empty
    text = (tmp_path / "report.md").read_text()
    assert "need at least 2 complete trials" in text
    assert "Parameter importances (PED-ANOVA): skipped" in text
    assert "Intermediate values: skipped (no trial reported intermediate values)" in text
    assert not (tmp_path / "param_importances.png").exists()
    assert tmp_path / "optimization_history.png" in paths


def test_no_complete_trial(tmp_path: Path) -> None:
    # Only failed trials: no best trial, no plots, and still a report.
    study = optuna.create_study(study_name="all-failed")

    def crash(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        raise RuntimeError("crash")

    study.optimize(crash, n_trials=2, catch=(RuntimeError,))
    write_report(study, tmp_path)
    summary = _summary((tmp_path / "report.md").read_text())
    assert summary["FAIL"] == "2" and summary["COMPLETE"] == "0"
    assert summary["Best value"].startswith("-")
    assert not list(tmp_path.glob("*.html"))


def test_fanova_error_keeps_nan_and_is_reported(
    study: optuna.Study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # If fANOVA raises, its column is NaN, PED-ANOVA still ranks, and report.md says why.
    def boom(*args: object, **kwargs: object) -> dict[str, float]:
        raise ValueError("no common parameters")

    monkeypatch.setattr(optuna.importance.FanovaImportanceEvaluator, "evaluate", boom)
    frame = compute_importances(study).set_index("param")
    assert frame["fanova"].isna().all()
    assert frame.loc["x", "ped_anova"] > frame.loc["y", "ped_anova"]
    write_report(study, tmp_path)
    assert "fANOVA failed and scored no parameter: `ValueError: no common parameters`" in (
        (tmp_path / "report.md").read_text()
    )


def test_summary_values_with_pipes_stay_in_one_cell(tmp_path: Path) -> None:
    # A "|" in a summary value is escaped so the table keeps two columns.
    study = optuna.create_study(study_name="pipes")
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
    write_report(study, tmp_path, summary={"teacher": "resnet|wide"})
    assert _summary((tmp_path / "report.md").read_text())["teacher"] == "resnet|wide"


def test_multi_objective_study_is_rejected(tmp_path: Path) -> None:
    # The report needs one best value; a multi-objective study raises an AutokdError.
    study = optuna.create_study(directions=["minimize", "maximize"])
    with pytest.raises(AutokdError, match="single-objective"):
        write_report(study, tmp_path)
