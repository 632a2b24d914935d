"""A trial is never pruned after its last epoch: that training is paid for in full."""

from __future__ import annotations

from pathlib import Path

from optuna.trial import TrialState

from autokd.config import StudyConfig
from autokd.study import run_study
from tests.conftest import write_study


def test_a_pruner_that_would_stop_every_trial_at_the_end_cannot(tmp_path: Path) -> None:
    # Rule: the threshold pruner below (val_acc < 2 always, checked from epoch 2 of 0..2 on)
    # would prune every trial after its last epoch; the trials complete instead.
    path = write_study(tmp_path, n_trials=2)
    text = path.read_text().replace(
        "pruner: {name: median, params: {n_startup_trials: 2, n_warmup_steps: 0}}",
        "pruner: {name: threshold, params: {lower: 2.0, n_warmup_steps: 2}}",
    )
    path.write_text(text)
    study = run_study(StudyConfig.from_yaml(path), progress=False)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert all(sorted(t.intermediate_values) == [0, 1, 2] for t in trials)


def test_the_same_pruner_still_prunes_before_the_last_epoch(tmp_path: Path) -> None:
    # Rule: pruning earlier is unchanged (checked from epoch 1 of 0..2 on).
    path = write_study(tmp_path, n_trials=1)
    text = path.read_text().replace(
        "pruner: {name: median, params: {n_startup_trials: 2, n_warmup_steps: 0}}",
        "pruner: {name: threshold, params: {lower: 2.0, n_warmup_steps: 1}}",
    )
    path.write_text(text)
    [trial] = run_study(StudyConfig.from_yaml(path), progress=False).get_trials()
    assert trial.state == TrialState.PRUNED and sorted(trial.intermediate_values) == [0, 1]
