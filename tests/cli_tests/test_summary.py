"""The line `autokd run` ends with counts the study's trials, not a racing worker's surplus."""

from __future__ import annotations

import argparse
import types

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from optuna.trial import create_trial

from autokd.cli import _print_summary
from autokd.study._objective import SURPLUS_REASON


def _study(surplus: int) -> optuna.Study:
    study = optuna.create_study(study_name="s", direction="maximize")
    dist = {"x": FloatDistribution(0, 1)}
    for value in (0.5, 0.9):
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE, value=value, params={"x": value}, distributions=dist
            )
        )
    study.add_trial(create_trial(state=TrialState.PRUNED, params={"x": 0.1}, distributions=dist))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "nan loss"}))
    for _ in range(surplus):
        study.add_trial(
            create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": SURPLUS_REASON})
        )
    return study


def _summary(capsys, study) -> str:
    config = types.SimpleNamespace(output_dir="runs/s", final_eval=None)
    _print_summary(argparse.Namespace(study="s.yaml"), config, study)
    return capsys.readouterr().out.splitlines()[0]


def test_surplus_starts_are_not_counted_as_trials_or_failures(capsys) -> None:
    line = _summary(capsys, _study(surplus=1))
    assert line == (
        "study 's': 4 trials (2 complete, 1 pruned, 1 failed); "
        "1 surplus start(s) of racing workers not counted"
    )


def test_without_surplus_the_line_is_the_plain_count(capsys) -> None:
    assert (
        _summary(capsys, _study(surplus=0))
        == "study 's': 4 trials (2 complete, 1 pruned, 1 failed)"
    )
