"""A trial is never pruned after its last epoch: that training is paid for in full."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from autokd.config import StudyConfig
from autokd.study import run_study
from tests.conftest import write_study


def _threshold_study(folder: Path, *, warmup: int, n_trials: int) -> optuna.Study:
    """A 3-epoch study whose pruner stops every trial (val_acc < 2) from epoch ``warmup`` on."""
    path = write_study(folder, n_trials=n_trials)
    path.write_text(
        path.read_text().replace(
            "pruner: {name: median, params: {n_startup_trials: 2, n_warmup_steps: 0}}",
            f"pruner: {{name: threshold, params: {{lower: 2.0, n_warmup_steps: {warmup}}}}}",
        )
    )
    return run_study(StudyConfig.from_yaml(path), progress=False)


def test_a_pruner_that_would_stop_every_trial_at_the_end_cannot(tmp_path: Path) -> None:
    # Rule: asked only after the last epoch (2 of 0..2), the pruner is not asked: trials end.
    trials = _threshold_study(tmp_path, warmup=2, n_trials=2).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert all(sorted(t.intermediate_values) == [0, 1, 2] for t in trials)


def test_the_same_pruner_still_prunes_before_the_last_epoch(tmp_path: Path) -> None:
    # Rule: pruning earlier is unchanged (asked from epoch 1 of 0..2 on).
    [trial] = _threshold_study(tmp_path, warmup=1, n_trials=1).get_trials()
    assert trial.state == TrialState.PRUNED and sorted(trial.intermediate_values) == [0, 1]
