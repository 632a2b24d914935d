"""A trial whose worker died before it began is failed and not counted (never left RUNNING)."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from autokd.study import counted_trials
from autokd.study._storage import ORPHAN_REASON
from autokd.study._storage import fail_orphaned_trials


def test_orphans_fail_and_do_not_count(tmp_path: Path) -> None:
    # Rule: RUNNING with no `worker` attribute and no parameter past the grace period is an
    # orphan: FAIL with its reason, not counted. A trial that set `worker` or sampled is not.
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    orphan = study.ask()  # created, then its worker died: nothing sampled
    begun = study.ask()
    begun.set_user_attr("worker", "host:1")
    sampled = study.ask()
    sampled.suggest_float("x", 0.0, 1.0)
    done = study.ask()
    study.tell(done, 0.5)
    assert fail_orphaned_trials(study, grace_period=3600.0) == []  # too young to tell
    assert fail_orphaned_trials(study, grace_period=0.0) == [orphan.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[orphan.number] == TrialState.FAIL
    assert states[begun.number] == states[sampled.number] == TrialState.RUNNING
    assert study.trials[orphan.number].user_attrs["fail_reason"] == ORPHAN_REASON
    assert counted_trials(study) == 1  # only the told one
    assert fail_orphaned_trials(study, grace_period=0.0) == []  # already ended: nothing again
