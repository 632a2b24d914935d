"""The all-trial analysis on synthetic studies whose structure is known by construction."""

from __future__ import annotations

import math
from pathlib import Path
import re
import warnings

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from optuna.trial import create_trial
import pandas as pd
import pytest
from scipy import stats

from autokd.report import Analysis
from autokd.report import analyse_study
from autokd.report import write_report

LR = FloatDistribution(0.01, 0.3, log=True)
UNIT = FloatDistribution(0.0, 1.0)
SWITCH = CategoricalDistribution([True, False])
AT_ON = "distill.terms.at.enabled"
AT_WEIGHT = "distill.terms.at.weight"
WEIGHT = FloatDistribution(1.0, 10.0)


def _study(direction: str = "maximize") -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(direction=direction)


def _add(
    study: optuna.Study,
    params: dict[str, object],
    dists: dict[str, object],
    curve: dict[int, float],
    *,
    pruned: bool = False,
    **kwargs: object,
) -> None:
    if pruned:
        trial = create_trial(
            params=params,
            distributions=dists,
            intermediate_values=curve,
            state=TrialState.PRUNED,
            **kwargs,
        )
    else:
        trial = create_trial(
            params=params,
            distributions=dists,
            value=curve[max(curve)],
            intermediate_values=curve,
            **kwargs,
        )
    study.add_trial(trial)


def _lr_study(n_complete: int, n_pruned: int, *, seed: int = 0) -> optuna.Study:
    """val_acc grows with log10(lr) and the epoch; `noise`, the AT switch and the AT weight
    (sampled only when AT is on) do nothing.

    Complete trials report steps 0-4, pruned ones steps 0-2.
    """
    rng = np.random.default_rng(seed)
    study = _study()
    for i in range(n_complete + n_pruned):
        lr = float(10 ** rng.uniform(math.log10(0.01), math.log10(0.3)))
        params = {"optim.lr": lr, "noise": float(rng.uniform()), AT_ON: bool(i % 2)}
        dists = {"optim.lr": LR, "noise": UNIT, AT_ON: SWITCH}
        if params[AT_ON]:
            params[AT_WEIGHT], dists[AT_WEIGHT] = float(rng.uniform(1, 10)), WEIGHT
        base = 0.5 + 0.3 * math.log10(lr / 0.01)
        steps = range(5) if i < n_complete else range(3)
        curve = {s: base * (0.6 + 0.1 * s) + 0.001 * float(rng.normal()) for s in steps}
        _add(study, params, dists, curve, pruned=i >= n_complete)
    return study


@pytest.fixture(scope="module")
def pruned_study() -> optuna.Study:
    return _lr_study(3, 37)


@pytest.fixture(scope="module")
def pruned_analysis(pruned_study: optuna.Study) -> Analysis:
    return analyse_study(pruned_study)


def test_rung_uses_pruned_trials(pruned_analysis: Analysis) -> None:
    # Step 2 is the latest step 8+ trials reached (steps 3-4 and the final values: 3 each),
    # so all 40 trials count there, and lr orders the 3 complete trials alike at step 2 and
    # at the end: Spearman 1.
    rung = pruned_analysis.rung
    assert rung.step == 2
    assert (len(rung.trials), rung.n_complete, rung.n_pruned) == (40, 3, 37)
    assert rung.rho == pytest.approx(1.0) and rung.n_rho == 3
    assert rung.describe() == (
        "step 2: 40 trials (3 complete, 37 pruned); Spearman 1.00 with final values "
        "over 3 complete"
    )
    assert set(pruned_analysis.importances["n_trials"]) == {40}
    assert set(pruned_analysis.importances["rung"]) == {"step 2"}


def test_lr_has_evidence_and_noise_does_not(pruned_analysis: Analysis) -> None:
    # The value is a function of lr alone: lr ranks first with evidence; noise and the AT
    # switch (which change nothing) have intervals reaching 0.
    frame = pruned_analysis.importances.set_index("param")
    assert pruned_analysis.importances["param"].iloc[0] == "optim.lr"
    assert frame.loc["optim.lr", "evidence"] == "evidence"
    assert frame.loc["optim.lr", "low"] > 0.01
    for name in ("noise", AT_ON, AT_WEIGHT):
        assert frame.loc[name, "evidence"] == "no evidence"
        assert frame.loc[name, "low"] <= 0.01
    assert (frame["low"] <= frame["median"]).all() and (frame["median"] <= frame["high"]).all()
    assert pruned_analysis.verdict == ""


def test_no_evidence_never_ranks_above_evidence(pruned_analysis: Analysis) -> None:
    # Once a "no evidence" row appears, every row below it is "no evidence" too.
    labels = pruned_analysis.importances["evidence"].tolist()
    first_none = labels.index("no evidence")
    assert "evidence" in labels[:first_none]
    assert set(labels[first_none:]) == {"no evidence"}


def test_analysis_is_deterministic(pruned_study: optuna.Study, pruned_analysis: Analysis) -> None:
    # Seeded resamples and forests: a second run gives identical tables and lines.
    again = analyse_study(pruned_study)
    pd.testing.assert_frame_equal(again.importances, pruned_analysis.importances)
    pd.testing.assert_frame_equal(again.terms, pruned_analysis.terms)
    assert again.next_steps == pruned_analysis.next_steps


def test_lr_partial_dependence_rises(pruned_analysis: Analysis) -> None:
    # The value grows with lr, so the curve ends higher than it starts, over the full range.
    curve = pruned_analysis.curves["optim.lr"]
    assert curve["value"].iloc[0] == pytest.approx(0.01)
    assert curve["value"].iloc[-1] == pytest.approx(0.3)
    assert curve["predicted"].iloc[-1] > curve["predicted"].iloc[0] + 0.1
    assert set(curve["n"]) == {40}


def test_disagreeing_rung_is_skipped() -> None:
    # 5 complete + 20 pruned trials reach steps 0 and 1; at step 1 the complete trials are
    # ranked opposite to their final values (rho -1), at step 0 alike (rho 1): step 0 is used.
    study = _study()
    for i in range(25):
        x = i / 25
        params, dists = {"x": x}, {"x": UNIT}
        if i < 5:
            _add(study, params, dists, {0: x, 1: 1 - x, 2: x})
        else:
            _add(study, params, dists, {0: x, 1: 1 - x}, pruned=True)
    rung = analyse_study(study, n_bootstrap=10).rung
    assert rung.step == 0 and len(rung.trials) == 25 and rung.rho == pytest.approx(1.0)


def _term_study() -> tuple[optuna.Study, np.ndarray, np.ndarray]:
    """24 complete trials; the AT term on adds 0.05, plus fixed small noise."""
    rng = np.random.default_rng(3)
    study, on, off = _study(), [], []
    for i in range(24):
        enabled = i % 3 != 0  # 16 on, 8 off
        value = 0.7 + 0.05 * enabled + 0.01 * float(rng.normal())
        (on if enabled else off).append(value)
        params = {AT_ON: enabled, "noise": float(rng.uniform())}
        _add(study, params, {AT_ON: SWITCH, "noise": UNIT}, {0: value})
    return study, np.array(on), np.array(off)


def test_term_on_off_difference_matches_welch() -> None:
    # on - off is the difference of the hand-split means; its 95% interval is Welch's
    # formula, contains the true 0.05 and excludes 0; 16 trials on, 8 off.
    study, on, off = _term_study()
    row = analyse_study(study, n_bootstrap=10).terms.set_index("term").loc["at"]
    assert (row["n_on"], row["n_off"]) == (16, 8)
    diff = on.mean() - off.mean()
    assert row["diff"] == pytest.approx(diff)
    v_on, v_off = on.var(ddof=1) / len(on), off.var(ddof=1) / len(off)
    df = (v_on + v_off) ** 2 / (v_on**2 / (len(on) - 1) + v_off**2 / (len(off) - 1))
    half = stats.t.ppf(0.975, df) * math.sqrt(v_on + v_off)
    assert row["low"] == pytest.approx(diff - half) and row["high"] == pytest.approx(diff + half)
    assert row["low"] < 0.05 < row["high"] and row["low"] > 0


def test_term_that_helps_is_kept_on() -> None:
    # Its interval is above 0, so "what to search next" says to keep it on, with n per side.
    study, _, _ = _term_study()
    lines = analyse_study(study, n_bootstrap=10).next_steps
    (line,) = [line for line in lines if "`at`" in line]
    assert line.startswith("Keep `at` on:") and "over 24 trials (16 on, 8 off)" in line


def _range_study() -> optuna.Study:
    """12 complete trials; the best 3 (the top quartile) sit at a in [4, 6], b near its high
    edge 10, lr near its low edge 0.001, and c spread over its whole range."""
    study = _study()
    dists = {
        "a": FloatDistribution(0.0, 10.0),
        "b": FloatDistribution(0.0, 10.0),
        "c": FloatDistribution(0.0, 10.0),
        "optim.lr": FloatDistribution(0.001, 1.0, log=True),
    }
    top = [(4.0, 9.8, 0.0, 0.001), (5.0, 9.9, 5.0, 0.0012), (6.0, 10.0, 10.0, 0.0013)]
    rest = [(float(i), float(i), float(i), 10 ** (-2 + i / 9)) for i in range(9)]
    values = [0.9, 0.8, 0.7] + [0.1 + 0.01 * i for i in range(9)]
    for (a, b, c, lr), value in zip(top + rest, values, strict=True):
        _add(study, {"a": a, "b": b, "c": c, "optim.lr": lr}, dists, {0: value})
    return study


def test_search_next_ranges() -> None:
    # a: the top quartile spans [4, 6] (20% of the range) -> narrow. b: all 3 lie within 5%
    # of 10 -> widen above it. lr: all 3 within 5% of the log range above 0.001 (0.0013 is
    # at (log10 0.0013 + 3) / 3 = 0.038) -> widen below it. c: spread -> nothing.
    lines = analyse_study(_range_study(), n_bootstrap=10).next_steps
    assert lines == [
        "Narrow `a` from [0, 10] to [4, 6]: the top quartile (3 of 12 trials) lies there.",
        "Widen `b` above its high edge 10: 3 of the top quartile's 3 trials lie within 5% of it.",
        "Widen `optim.lr` below its low edge 0.001: 3 of the top quartile's 3 trials lie "
        "within 5% of it.",
    ]


def test_minimised_study_takes_its_lowest_values_as_top() -> None:
    # The same trials with negated values in a minimised study give the same suggestions.
    source = _range_study()
    study = _study("minimize")
    for t in source.trials:
        curve = {s: -v for s, v in t.intermediate_values.items()}
        _add(study, t.params, t.distributions, curve)
    expected = analyse_study(source, n_bootstrap=10).next_steps
    assert analyse_study(study, n_bootstrap=10).next_steps == expected


def test_group_means_per_width_with_costs() -> None:
    # Mean value, count and median student_params per width, as computed by hand.
    study = _study()
    width = FloatDistribution(0.25, 0.5, step=0.125)
    widths = [0.25, 0.25, 0.375, 0.5, 0.5, 0.5, 0.375, 0.25]
    for i, w in enumerate(widths):
        attrs = {"student_params": int(1000 * w) + i}
        _add(
            study,
            {"student.width": w},
            {"student.width": width},
            {0: w + i / 100},
            user_attrs=attrs,
        )
    frame = analyse_study(study, n_bootstrap=10).groups["student.width"].set_index("choice")
    for w in (0.25, 0.375, 0.5):
        idx = [i for i, x in enumerate(widths) if x == w]
        assert frame.loc[w, "n"] == len(idx)
        assert frame.loc[w, "mean"] == pytest.approx(np.mean([w + i / 100 for i in idx]))
        assert frame.loc[w, "student_params"] == np.median([int(1000 * w) + i for i in idx])


@pytest.mark.parametrize("n_trials", [0, 1, 3])
def test_too_few_trials_gives_one_sentence(n_trials: int) -> None:
    # Fewer than 8 trials at every rung: no table, one sentence with the counts and the fix.
    study = _lr_study(n_trials, 0)
    analysis = analyse_study(study, n_bootstrap=10)
    assert analysis.rung is None and analysis.importances.empty
    assert analysis.verdict.startswith("Too little evidence to rank parameters: ")
    assert f"only {n_trials} complete and 0 pruned trial(s) are usable" in analysis.verdict
    assert "run more trials" in analysis.verdict


def test_flat_values_give_no_evidence_sentence() -> None:
    # Every trial scored the same: nothing can matter, so one sentence replaces the table.
    study = _study()
    for i in range(10):
        _add(study, {"x": i / 10, "y": 1 - i / 10}, {"x": UNIT, "y": UNIT}, {0: 0.5})
    analysis = analyse_study(study, n_bootstrap=10)
    assert set(analysis.importances["evidence"]) == {"no evidence"}
    assert analysis.verdict.startswith("No parameter shows evidence")
    assert "only 10 complete and 0 pruned trial(s)" in analysis.verdict


def test_failed_trials_and_multi_objective_are_noted() -> None:
    # FAIL trials are ignored and counted; a 2-objective study is analysed on the first.
    study = optuna.create_study(directions=["maximize", "minimize"])
    for i in range(8):
        enabled = i % 2 == 0
        study.add_trial(
            create_trial(params={AT_ON: enabled}, distributions={AT_ON: SWITCH}, values=[i, -i])
        )
    study.add_trial(
        create_trial(params={AT_ON: True}, distributions={AT_ON: SWITCH}, state=TrialState.FAIL)
    )
    analysis = analyse_study(study, n_bootstrap=10)
    assert len(analysis.rung.trials) == 8
    assert "1 failed trial(s) ignored." in analysis.notes
    assert any("2 objectives" in n and "first (val_acc)" in n for n in analysis.notes)
    row = analysis.terms.set_index("term").loc["at"]
    assert row["diff"] == pytest.approx(np.mean([0, 2, 4, 6]) - np.mean([1, 3, 5, 7]))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


@pytest.fixture(scope="module")
def report_dir(pruned_study: optuna.Study, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("analysis_report")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Any warning that escapes fails the test.
        write_report(pruned_study, out)
    return out


def test_report_sections_in_order(report_dir: Path) -> None:
    # The new sections follow the summary in this order; the 3-complete-trial PED-ANOVA table
    # is replaced by one sentence, and no importance plot of equal bars is drawn.
    text = (report_dir / "report.md").read_text()
    heads = re.findall(r"^## (.+)$", text, flags=re.M)
    assert heads == [
        "Summary",
        "What mattered (all trials)",
        "Distillation answers",
        "What to search next",
        "Parameter importances",
        "Plots",
    ]
    assert "omitted: only 3 complete trials (they need 8)" in text
    assert not (report_dir / "param_importances.png").exists()
    assert (report_dir / "partial_dependence.png").read_bytes()[:4] == b"\x89PNG"


def test_report_table_matches_csv(report_dir: Path) -> None:
    # The Markdown table lists importances_all_trials.csv's rows in order, 3 decimals.
    text = (report_dir / "report.md").read_text()
    section = text.split("## What mattered (all trials)\n", 1)[1].split("\n## ", 1)[0]
    rows = [_cells(line) for line in section.splitlines() if line.startswith("| ")][1:]
    frame = pd.read_csv(report_dir / "importances_all_trials.csv")
    assert [r[1].strip("`") for r in rows] == frame["param"].tolist()
    assert [r[2] for r in rows] == [f"{m:.3f}" for m in frame["median"]]
    assert [r[4] for r in rows] == frame["evidence"].tolist()
    assert {r[5] for r in rows} == {"40"}
    assert "40 trials (3 complete, 37 pruned)" in section


def test_library_warnings_go_to_report_log(report_dir: Path) -> None:
    # PED-ANOVA warns that the conditional AT weight has regimes of fewer than 2 complete
    # trials; with warnings turned into errors the report still got written (the fixture),
    # and the warning's text is in report.log.
    log = (report_dir / "report.log").read_text()
    assert "UserWarning: Some regimes for parameter `distill.terms.at.weight`" in log


def test_encoding_of_log_categorical_and_conditional_params() -> None:
    # lr in log10; a categorical as its choice index; a parameter absent from a trial as a
    # sentinel below its range (low - span = 1 - 9 = -8) plus an [active] indicator.
    from autokd.report._encode import encode

    study = _study()
    _add(
        study,
        {"optim.lr": 0.1, AT_ON: True, AT_WEIGHT: 4.0},
        {"optim.lr": LR, AT_ON: SWITCH, AT_WEIGHT: WEIGHT},
        {0: 0.5},
    )
    _add(study, {"optim.lr": 0.01, AT_ON: False}, {"optim.lr": LR, AT_ON: SWITCH}, {0: 0.4})
    encoded = encode(study.trials)
    frame = encoded.frame
    assert frame["optim.lr"].tolist() == pytest.approx([-1.0, -2.0])
    assert frame[AT_ON].tolist() == [0.0, 1.0]  # index in the choices [True, False]
    assert frame[AT_WEIGHT].tolist() == [4.0, -8.0]
    assert frame[f"{AT_WEIGHT}[active]"].tolist() == [1.0, 0.0]
    assert encoded.groups[AT_WEIGHT] == [AT_WEIGHT, f"{AT_WEIGHT}[active]"]
    assert encoded.groups["optim.lr"] == ["optim.lr"]


def test_choose_combinations_and_layer_pairs() -> None:
    # distill.choose "at+kd" turns at and kd on, "kd" turns at off; the pair table counts and
    # averages the trials per pair.
    study = _study()
    choose = CategoricalDistribution(["at+kd", "kd"])
    pair = CategoricalDistribution(["s0 -> s0", "s1 -> s1"])
    rows = [
        ("at+kd", "s0 -> s0", 0.8),
        ("at+kd", "s1 -> s1", 0.6),
        ("kd", None, 0.5),
        ("at+kd", "s0 -> s0", 0.9),
        ("kd", None, 0.4),
        ("kd", None, 0.3),
    ]
    for combo, layers, value in rows:
        params, dists = {"distill.choose": combo}, {"distill.choose": choose}
        if layers:
            params["distill.terms.at.pair"], dists["distill.terms.at.pair"] = layers, pair
        _add(study, params, dists, {0: value})
    analysis = analyse_study(study, n_bootstrap=10, min_trials=6)
    terms = analysis.terms.set_index("term")
    assert (terms.loc["at", "n_on"], terms.loc["at", "n_off"]) == (3, 3)
    assert terms.loc["at", "diff"] == pytest.approx(np.mean([0.8, 0.6, 0.9]) - 0.4)
    assert (terms.loc["kd", "n_on"], terms.loc["kd", "n_off"]) == (6, 0)
    pairs = analysis.groups["distill.terms.at.pair"].set_index("choice")
    assert pairs.loc["s0 -> s0", "n"] == 2 and pairs.loc["s0 -> s0", "mean"] == pytest.approx(0.85)
    assert pairs.loc["s1 -> s1", "n"] == 1 and pairs.loc["s1 -> s1", "mean"] == pytest.approx(0.6)
