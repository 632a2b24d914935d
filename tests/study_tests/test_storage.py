"""Storage URLs, password masking, and how the shared budget of n_trials is counted."""

from __future__ import annotations

import datetime
from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
import pytest

from autokd.exceptions import ConfigError
from autokd.study import counted_trials
from autokd.study import mask_url
from autokd.study._objective import SURPLUS_REASON
from autokd.study._optimize import is_pending
from autokd.study._optimize import trials_before
from autokd.study._storage import StaleTrialHandler
from autokd.study._storage import open_storage
from autokd.study._storage import storage_kind
from autokd.study._storage import with_driver


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://kd:s3cret@db:5432/optuna", "postgresql://kd:***@db:5432/optuna"),
        (
            "postgresql+psycopg2://kd:p@ss/w@db/optuna?sslmode=require",
            "postgresql+psycopg2://kd:***@db/optuna?sslmode=require",
        ),
        (
            "postgresql://db/optuna?user=kd&password=s3cret",
            "postgresql://db/optuna?user=kd&password=***",
        ),
        ("postgresql://kd@db/optuna", "postgresql://kd@db/optuna"),
        ("sqlite:////tmp/a@b/optuna.db", "sqlite:////tmp/a@b/optuna.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_mask_url_hides_passwords_only(url: str, masked: str) -> None:
    # Rule: the password (userinfo or password= query) becomes ***; nothing else changes.
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite:////tmp/x.db", "rdb"),
        ("postgresql+psycopg2://u:p@h/d", "rdb"),
        ("journal:///tmp/x.log", "journal"),
        ("/tmp/study.log", "journal"),
        ("grpc://127.0.0.1:13000", "grpc"),
    ],
)
def test_storage_kind(url: str, kind: str) -> None:
    # Rule: the URL's scheme (or a .log path) picks the storage backend.
    assert storage_kind(url) == kind


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://kd:pw@db/optuna", "postgresql+psycopg2://kd:pw@db/optuna"),
        ("postgres://kd:pw@db/optuna", "postgresql+psycopg2://kd:pw@db/optuna"),
        ("postgresql+psycopg://kd:pw@db/optuna", "postgresql+psycopg://kd:pw@db/optuna"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_bare_postgresql_urls_use_psycopg2(url: str, expected: str) -> None:
    # Rule: SQLAlchemy 2.1 would pick psycopg 3 for postgresql://; autokd ships psycopg2.
    assert with_driver(url) == expected


def test_journal_url_opens_a_journal_file(tmp_path: Path) -> None:
    # Rule: journal:///ABS/PATH.log is Optuna's journal file backend, created on first use.
    log = tmp_path / "sub" / "study.log"
    storage = open_storage(f"journal://{log}")
    assert isinstance(storage, optuna.storages.JournalStorage)
    optuna.create_study(study_name="j", storage=storage).optimize(lambda t: 1.0, n_trials=1)
    assert log.is_file()


def test_relative_journal_url_is_refused() -> None:
    # Rule: journal:// needs an absolute path (three slashes); one line says so.
    with pytest.raises(ConfigError, match="three slashes"):
        open_storage("journal://study.log")


def test_grpc_url_without_port_is_refused() -> None:
    with pytest.raises(ConfigError, match="grpc://HOST:PORT"):
        open_storage("grpc://somehost")


def _add(study: optuna.Study, state: TrialState, **kw) -> None:
    dist = {"x": FloatDistribution(0, 1)}
    params = kw.pop("params", {"x": 0.5})
    study.add_trial(
        optuna.create_trial(
            state=state,
            value=0.5 if state == TrialState.COMPLETE else None,
            params=params if state != TrialState.WAITING else params,
            distributions=dist,
            **kw,
        )
    )


def test_counted_trials_skip_interrupted_surplus_and_retried() -> None:
    # Rule: interrupted, surplus and retried (worker died) trials do not count; their
    # replacements do; other failures count.
    study = optuna.create_study()
    _add(study, TrialState.COMPLETE)  # 0: counts
    _add(study, TrialState.PRUNED)  # 1: counts
    _add(study, TrialState.FAIL, user_attrs={"fail_reason": "TrialSetupError: nan"})  # 2
    _add(study, TrialState.FAIL, user_attrs={"fail_reason": "interrupted"})  # 3: no
    _add(study, TrialState.FAIL, user_attrs={"fail_reason": SURPLUS_REASON})  # 4: no
    _add(study, TrialState.FAIL)  # 5: its worker died; retried as 6
    _add(
        study,
        TrialState.COMPLETE,
        system_attrs={"failed_trial": 5, "retry_history": [5]},
    )  # 6: counts
    assert counted_trials(study) == 4


def test_trials_before_counts_pending_trials() -> None:
    # Rule: the budget taken before trial n counts the lower trials that count or will count
    # (RUNNING, WAITING), so the later of two racing workers sees the earlier one's trial.
    study = optuna.create_study()
    _add(study, TrialState.COMPLETE)  # 0
    _add(study, TrialState.FAIL, user_attrs={"fail_reason": "interrupted"})  # 1
    study.ask()  # 2: RUNNING
    _add(study, TrialState.WAITING)  # 3
    trials = study.get_trials(deepcopy=False)
    assert trials_before(trials, 2) == 1
    assert trials_before(trials, 3) == 2
    assert trials_before(trials, 10) == 3


def test_a_foreign_running_trial_takes_no_budget() -> None:
    # Rule: a RUNNING trial no autokd worker claimed (no `worker` attribute), older than a
    # minute, is never recovered, so workers do not wait for it; a claimed one is waited for.
    from autokd.study._optimize import FOREIGN_AFTER_S

    study = optuna.create_study()
    study.ask()  # 0: left RUNNING by something else
    study.ask().set_user_attr("worker", "host:1")  # 1: an autokd worker's
    trials = study.get_trials(deepcopy=False)
    assert trials_before(trials, 2) == 2
    later = trials[0].datetime_start + datetime.timedelta(seconds=FOREIGN_AFTER_S + 1)
    assert not is_pending(trials[0], later)
    assert is_pending(trials[1], later)


def test_a_retry_does_not_see_the_trial_it_replaces() -> None:
    # Rule: when a retry starts, the dead trial it replaces takes no budget (else the retry of
    # the last trial would be refused as surplus).
    study = optuna.create_study()
    _add(study, TrialState.COMPLETE)  # 0
    _add(study, TrialState.FAIL)  # 1: its worker died
    _add(study, TrialState.WAITING, system_attrs={"failed_trial": 1, "retry_history": [1]})
    trials = study.get_trials(deepcopy=False)
    assert trials_before(trials, 2) == 1


def test_stale_handler_queues_the_same_params_with_the_reason() -> None:
    # Rule: a trial whose worker died is queued again with the same params; the retry
    # carries the reason and not the dead trial's MLflow run id.
    study = optuna.create_study()
    _add(
        study,
        TrialState.FAIL,
        params={"x": 0.25},
        user_attrs={"mlflow_run_id": "abc", "worker": "host:1"},
    )
    handler = StaleTrialHandler(grace_period=7, max_retry=2)
    handler(study, study.trials[0])
    retry = study.trials[1]
    assert retry.state == TrialState.WAITING
    assert retry.params == {"x": 0.25}
    assert retry.system_attrs["failed_trial"] == 0
    assert "mlflow_run_id" not in retry.user_attrs
    assert "no heartbeat for 7 s" in retry.user_attrs["retry_reason"]
    assert "host:1" in retry.user_attrs["retry_reason"]


def test_unreachable_database_is_one_line_without_the_password() -> None:
    # Rule: a storage that cannot be reached is bad input (one line), and the message masks
    # the password.
    with pytest.raises(ConfigError) as info:
        open_storage("postgresql+psycopg2://kd:topsecret@127.0.0.1:1/optuna")
    message = str(info.value)
    assert "topsecret" not in message and "kd:***@127.0.0.1:1" in message
    assert "\n" not in message
