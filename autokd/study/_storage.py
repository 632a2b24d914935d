"""Optuna storages by URL, password masking, and crash recovery of trials whose worker died.

URLs:

- ``sqlite:///ABS/PATH.db``: one file; local workers may share it (60 s lock timeout).
- ``postgresql://USER:PASSWORD@HOST:PORT/DB`` (read as ``postgresql+psycopg2://``; another
  ``+driver`` or ``mysql...`` is passed as given): Optuna's RDB storage, for workers on
  several machines.
- ``journal:///ABS/PATH.log``, or any path ending in ``.log``: Optuna's journal file backend
  (an append-only log; works on a shared file system). It has no heartbeat, so a trial whose
  worker is killed stays RUNNING for ever and is never retried.
- ``grpc://HOST:PORT``: Optuna's gRPC storage proxy (start one with ``autokd storage-proxy``);
  needs the ``grpcio`` package. The proxy does not forward heartbeats: no crash recovery.

Every RDB storage opened for optimisation gets heartbeats (see
:class:`autokd.config._study.HeartbeatSettings`) and :class:`StaleTrialHandler` as its
stale-trial callback.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import copy
from pathlib import Path
import re
from typing import TYPE_CHECKING
import warnings

import optuna

from autokd.exceptions import ConfigError
from autokd.logging import get_logger

if TYPE_CHECKING:
    from autokd.config._study import HeartbeatSettings
    from autokd.tracking import MlflowTracker

__all__ = [
    "SQLITE_TIMEOUT_S",
    "STORAGE_ENV",
    "StaleTrialHandler",
    "fail_stale_trials",
    "has_heartbeat",
    "mask_url",
    "open_storage",
    "storage_kind",
    "with_driver",
]

_logger = get_logger(__name__)

#: The storage URL when ``--storage`` is not given (before the study file's). It keeps a
#: password off command lines, which any user of the machine can read with ``ps``; spawned
#: workers get the URL this way.
STORAGE_ENV = "AUTOKD_STORAGE"

#: Seconds a SQLite writer waits for a lock (a dashboard or a second worker reading the file
#: must not fail a trial with "database is locked").
SQLITE_TIMEOUT_S = 60

_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
_SECRET_QUERY = re.compile(r"(?i)([?&;](?:password|passwd|pwd|pass)=)[^&;]*")


@contextlib.contextmanager
def quiet_experimental() -> Iterator[None]:
    """Silences Optuna's ExperimentalWarning for the heartbeat and retry APIs, which autokd
    uses on purpose (a user must see one line per event, not a warning per worker)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def fail_stale_trials(study: optuna.Study) -> None:
    """Optuna's ``fail_stale_trials`` (a no-op without heartbeats), without its warning."""
    with quiet_experimental():
        optuna.storages.fail_stale_trials(study)


#: ``fail_reason`` of a trial whose worker died between creating it and starting it.
ORPHAN_REASON = "orphaned: its worker stopped before the trial began (nothing sampled)"


def fail_orphaned_trials(study: optuna.Study, grace_period: float) -> list[int]:
    """Fails RUNNING trials that a worker created and never began: no ``worker`` attribute
    and no parameter after ``grace_period`` seconds.

    A worker killed in the instant between Optuna creating its next trial and that trial's
    first heartbeat leaves it RUNNING with no heartbeat, which Optuna's stale check never
    sees. Nothing was sampled or trained, so it is failed with :data:`ORPHAN_REASON` (which
    does not count towards ``n_trials``) and not retried. Every autokd trial sets ``worker``
    and samples its recipe at once, so a live one is never taken for an orphan.

    Returns:
        The numbers of the trials failed here.
    """
    import datetime

    from optuna.trial import TrialState

    now = datetime.datetime.now()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if "worker" in trial.user_attrs or trial.params or trial.datetime_start is None:
            continue
        if (now - trial.datetime_start).total_seconds() < grace_period:
            continue
        storage = study._storage
        try:
            storage.set_trial_user_attr(trial._trial_id, "fail_reason", ORPHAN_REASON)
            if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                failed.append(trial.number)
        except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # another worker ended it first
    if failed:
        _logger.warning("failed orphaned trial(s) %s: %s", failed, ORPHAN_REASON)
    return failed


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (userinfo and ``password=`` queries).

    Args:
        url: A storage or tracking URL, such as ``postgresql://kd:s3cret@db:5432/optuna``.

    Returns:
        The URL safe to print, log or tag: ``postgresql://kd:***@db:5432/optuna``.

    Example:
        >>> mask_url("postgresql+psycopg2://kd:p@ss@db/optuna?sslmode=require")
        'postgresql+psycopg2://kd:***@db/optuna?sslmode=require'
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        query_at = rest.find("?")
        end = query_at if query_at != -1 else len(rest)
        # The last "@" before the query ends the userinfo: a raw "@" or "/" inside a password
        # is then still masked (URLs should percent-encode them, but people paste them raw).
        at = rest.rfind("@", 0, end)
        if at != -1:
            user, colon, _ = rest[:at].partition(":")
            if colon:
                rest = f"{user}:***{rest[at:]}"
        url = f"{scheme}{sep}{rest}"
    return _SECRET_QUERY.sub(r"\1***", url)


def storage_kind(url: str) -> str:
    """``rdb``, ``journal`` or ``grpc`` for a storage URL (anything else is passed to Optuna)."""
    scheme = url.partition(":")[0].lower().split("+")[0]
    if url.startswith("journal://") or (url.endswith(".log") and "://" not in url):
        return "journal"
    if scheme == "grpc":
        return "grpc"
    if scheme in _RDB_SCHEMES:
        return "rdb"
    return "other"


def with_driver(url: str) -> str:
    """``postgresql://`` (or ``postgres://``) made explicit as ``postgresql+psycopg2://``.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to the psycopg 3 driver (checked with
    SQLAlchemy 2.1.9: ``make_url("postgresql://h/d").get_dialect().driver == "psycopg"``),
    while autokd installs and tests psycopg2 (``pip install psycopg2-binary``). A URL that
    names its driver is left as it is.
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("postgresql", "postgres"):
        return f"postgresql+psycopg2://{rest}"
    return url


def has_heartbeat(storage: optuna.storages.BaseStorage | str) -> bool:
    """Whether trials in ``storage`` record heartbeats (so dead workers' trials are retried)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return not isinstance(storage, str) and is_heartbeat_enabled(storage)


def open_storage(
    url: str,
    *,
    heartbeat: HeartbeatSettings | None = None,
    on_stale: StaleTrialHandler | None = None,
) -> optuna.storages.BaseStorage | str:
    """The Optuna storage for ``url`` (see the module docstring for the accepted URLs).

    Args:
        url: The storage URL.
        heartbeat: Trial heartbeats for RDB storages (None: off, as for reading a study).
        on_stale: Called for each trial found stale (default: only Optuna's FAIL).

    Returns:
        A storage object, or ``url`` itself for schemes Optuna resolves on its own.

    Raises:
        ConfigError: A journal path that is not absolute, a gRPC URL without a port, or a
            missing driver package.
    """
    kind = storage_kind(url)
    if kind == "journal":
        return _journal(url)
    if kind == "grpc":
        return _grpc(url)
    if kind != "rdb":
        return url
    url = with_driver(url)
    kwargs: dict = {}
    if url.startswith("sqlite:"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    else:
        # A server may drop idle connections between two long trials.
        kwargs["engine_kwargs"] = {"pool_pre_ping": True}
    if heartbeat is not None:
        kwargs.update(
            heartbeat_interval=heartbeat.interval,
            grace_period=heartbeat.grace_period,
            heartbeat_stale_trial_callback=on_stale,
        )
    try:
        with quiet_experimental():
            return optuna.storages.RDBStorage(url, **kwargs)
    except ModuleNotFoundError as exc:  # e.g. psycopg2 for postgresql://
        raise ConfigError(
            "storage",
            "a storage whose database driver is installed",
            f"{mask_url(url)} (no module '{exc.name}')",
            hint="For PostgreSQL: pip install psycopg2-binary.",
        ) from None
    except Exception as exc:
        import sqlalchemy.exc

        if not isinstance(exc, sqlalchemy.exc.OperationalError):
            raise
        # The driver's first line ("connection to server at ... failed: ..."); never the URL
        # as SQLAlchemy prints it, which may carry the password.
        first = str(exc.orig or exc).strip().splitlines()[0]
        raise ConfigError(
            "storage", "a database autokd can reach", f"{mask_url(url)} ({first})"
        ) from None


def _journal(url: str) -> optuna.storages.BaseStorage:
    from optuna.storages.journal import JournalFileBackend
    from optuna.storages.journal import JournalStorage

    path = Path(url.removeprefix("journal://")) if url.startswith("journal://") else Path(url)
    if url.startswith("journal://") and not path.is_absolute():
        raise ConfigError("storage", "journal:///ABSOLUTE/PATH.log (three slashes)", repr(url))
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def _grpc(url: str) -> optuna.storages.BaseStorage:
    host, _, port = url.removeprefix("grpc://").rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError("storage", "grpc://HOST:PORT", repr(mask_url(url)))
    try:
        from optuna.storages import GrpcStorageProxy

        with quiet_experimental():
            return GrpcStorageProxy(host=host, port=int(port))
    except ImportError as exc:
        raise ConfigError(
            "storage",
            "the grpcio package for a grpc:// storage",
            f"no module '{getattr(exc, 'name', 'grpc')}'",
            hint="pip install grpcio.",
        ) from None


class StaleTrialHandler:
    """Optuna's stale-trial callback for autokd: end the MLflow run, then retry the trial.

    Optuna calls it (inside ``fail_stale_trials``, in whichever worker looks first) with a
    trial it has just set to FAIL because its heartbeat stopped. The trial's MLflow runs (every
    run of the study tagged with its number, including one whose worker was killed before it
    stored the id as ``mlflow_run_id``) are ended FAILED with the reason; then
    :class:`optuna.storages.RetryHeartbeatStaleTrialCallback` queues the same parameters as a
    new WAITING trial (Optuna records the original's number in its system attribute
    ``failed_trial``). A finished trial's attributes cannot be changed, so the reason is also
    copied onto the retry as the user attribute ``retry_reason``.

    Args:
        grace_period: Seconds without heartbeat after which a trial is stale (for the reason).
        max_retry: Retries of one trial at most.
    """

    def __init__(self, *, grace_period: int, max_retry: int) -> None:
        self.grace_period = grace_period
        with quiet_experimental():
            self._retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
        self.tracker: MlflowTracker | None = None
        self.parent_run_id: str | None = None

    def bind(self, tracker: MlflowTracker, parent_run_id: str) -> None:
        """Where the study's MLflow runs are (set once the tracker exists)."""
        self.tracker = tracker
        self.parent_run_id = parent_run_id

    def reason(self, trial: optuna.trial.FrozenTrial) -> str:
        """Why the trial failed, as stored in MLflow and on its retry."""
        worker = trial.user_attrs.get("worker", "its worker")
        return (
            f"worker lost: trial {trial.number} ({worker}) sent no heartbeat for "
            f"{self.grace_period} s; retried with the same parameters"
        )

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        reason = self.reason(trial)
        _logger.warning("%s", reason)
        if self.tracker is not None and self.parent_run_id is not None:
            try:
                self._end_runs(trial, reason)
            except Exception as exc:  # tracking trouble must not stop the recovery
                _logger.warning("could not end the MLflow run of trial %d: %s", trial.number, exc)
        retry = copy.copy(trial)
        attrs = {k: v for k, v in trial.user_attrs.items() if k != "mlflow_run_id"}
        retry.user_attrs = {**attrs, "retry_reason": reason}
        with quiet_experimental():
            self._retry(study, retry)

    def _end_runs(self, trial: optuna.trial.FrozenTrial, reason: str) -> None:
        from autokd.tracking._mlflow import TRIAL_NUMBER_TAG

        assert self.tracker is not None and self.parent_run_id is not None
        # Every run of this trial: the one named by ``mlflow_run_id``, one whose worker died
        # between creating it and storing its id on the trial, and one ended FINISHED by a
        # worker that died before telling Optuna: the trial failed, so its runs did too.
        for run in self.tracker.find_trial_runs(self.parent_run_id):
            same = run.data.tags.get(TRIAL_NUMBER_TAG) == str(trial.number)
            if same and run.info.status != "FAILED":
                self.tracker.end_run(run.info.run_id, "FAILED", reason=reason)
