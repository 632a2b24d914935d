"""An MLflow adapter: one parent run per study, one nested child run per trial.

Every call names its run id explicitly and goes through ``mlflow.MlflowClient``; nothing here
touches MLflow's global "active run". The active run is hidden module state, so code that
relies on it (``mlflow.start_run`` / ``mlflow.log_metric``) needs a lock as soon as
several trials run in one process (Optuna's ``n_jobs``), which is why optuna-integration's
callback has one. With explicit run ids, trials in threads or processes never log into each
other's runs.

``mlflow`` itself is imported lazily (its first import takes 1-2 s), so importing
:mod:`autokd.tracking` stays cheap for ``autokd --help``.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import os
from pathlib import Path
import time
from typing import TYPE_CHECKING
from typing import TypeVar

from autokd.exceptions import ConfigError
from autokd.logging import get_logger

if TYPE_CHECKING:
    import mlflow
    import optuna

__all__ = ["MlflowTracker", "default_artifact_location", "resolve_tracking_uri", "run_status_for"]

_logger = get_logger(__name__)
_T = TypeVar("_T")

#: MLflow accepts at most 100 params (and 1000 metrics) in one ``log_batch`` call.
_MAX_PARAMS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000
#: MLflow caps tag values at 8000 characters; a failure message may be a long traceback.
_MAX_REASON_CHARS = 5000

_TERMINAL_STATUSES = ("FINISHED", "KILLED", "FAILED")
_RUN_STATUS_BY_TRIAL_STATE = {
    "COMPLETE": "FINISHED",
    "PRUNED": "KILLED",
    "FAIL": "FAILED",
    "RUNNING": "RUNNING",
    "WAITING": "RUNNING",
}
#: Schemes whose server stores artifacts itself; the client must not choose a location.
_SERVER_SCHEMES = ("http", "https", "databricks")

ROLE_TAG = "autokd.role"
STUDY_TAG = "autokd.study"
TRIAL_NUMBER_TAG = "autokd.trial_number"
FAIL_REASON_TAG = "autokd.fail_reason"
#: ``host:pid`` of the worker process that ran a trial.
WORKER_TAG = "autokd.worker"
PARENT_RUN_TAG = "mlflow.parentRunId"


def resolve_tracking_uri(flag: str | None, study_value: str | None, study_dir: Path) -> str:
    """Picks the MLflow tracking URI for a study.

    Precedence: the CLI flag, then the ``MLFLOW_TRACKING_URI`` environment variable, then the
    study file's value, then an SQLite database in the study folder. Empty strings count as
    unset. MLflow's own default (``sqlite:///<cwd>/mlflow.db``) depends on the working folder,
    so it is never used.

    Args:
        flag: The ``--tracking-uri`` command-line value, or ``None``.
        study_value: The ``tracking_uri`` from the study file, or ``None``.
        study_dir: The study's output folder; the default database lives there.

    Returns:
        The tracking URI, for example ``sqlite:////abs/study/mlflow.db``.
    """
    for candidate in (flag, os.environ.get("MLFLOW_TRACKING_URI"), study_value):
        if candidate:
            return candidate
    return f"sqlite:///{study_dir.resolve()}/mlflow.db"


def default_artifact_location(tracking_uri: str, study_dir: Path) -> str | None:
    """The artifact root for a study's experiment.

    A tracking server (``http``, ``https``, ``databricks``) decides where artifacts go, so the
    client must not choose. For a database URI (``sqlite:``, ``postgresql:``...) MLflow would
    otherwise use ``./mlruns`` relative to the working folder, so artifacts go next to the
    study instead.

    Args:
        tracking_uri: The URI from :func:`resolve_tracking_uri`.
        study_dir: The study's output folder.

    Returns:
        A ``file://`` URI of ``study_dir/mlartifacts``, or ``None`` for a tracking server.
    """
    scheme = tracking_uri.partition(":")[0].lower()
    if scheme in _SERVER_SCHEMES:
        return None
    return (study_dir.resolve() / "mlartifacts").as_uri()


def run_status_for(state: optuna.trial.TrialState) -> str:
    """The MLflow run status that matches an Optuna trial state.

    Args:
        state: The trial's state.

    Returns:
        ``FINISHED`` for COMPLETE, ``KILLED`` for PRUNED, ``FAILED`` for FAIL and ``RUNNING``
        for RUNNING or WAITING.
    """
    return _RUN_STATUS_BY_TRIAL_STATE[state.name]


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MlflowTracker:
    """Thin adapter over ``mlflow.MlflowClient``: explicit run ids, never the global active run.

    Args:
        tracking_uri: Where runs are stored (see :func:`resolve_tracking_uri`).
        experiment_name: The experiment to log into; created if missing, restored if deleted.
        artifact_location: The artifact root used when the experiment is created (see
            :func:`default_artifact_location`); ignored when it already exists.

    Example:
        .. code-block:: python

            tracker = MlflowTracker("sqlite:////tmp/s/mlflow.db", "kd", artifact_location=loc)
            parent = tracker.start_study_run("kd")
            child = tracker.start_trial_run(parent, 0, params={"lr": 0.1}, recipe_yaml=text)
            tracker.log_metrics(child, {"val_acc": 0.9}, step=0)
            tracker.end_run(child, "FINISHED")
    """

    def __init__(
        self, tracking_uri: str, experiment_name: str, *, artifact_location: str | None = None
    ) -> None:
        import mlflow

        self.tracking_uri = tracking_uri
        self._client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        self._experiment_id = self._get_or_create_experiment(experiment_name, artifact_location)

    def _get_or_create_experiment(self, name: str, artifact_location: str | None) -> str:
        from mlflow.exceptions import MlflowException

        experiment = self._client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return self._client.create_experiment(name, artifact_location=artifact_location)
            except MlflowException:
                # NOTE(tracking): another worker may have created it between our two calls.
                experiment = self._client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == "deleted":
            _logger.info("Restoring deleted MLflow experiment %r.", name)
            self._client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id

    @property
    def experiment_id(self) -> str:
        """The id of the experiment all runs go into."""
        return self._experiment_id

    def start_study_run(
        self,
        study_name: str,
        *,
        params: Mapping[str, object] = {},
        tags: Mapping[str, str] = {},
    ) -> str:
        """Creates the study's parent run, or resumes it when it already exists.

        A resumed run is set back to RUNNING. MLflow forbids changing a logged param, so only
        params whose keys are new are logged; a changed value is kept as it was and logged as
        a warning.

        Args:
            study_name: The Optuna study name; also the run name.
            params: Study-level params (sampler, pruner, dataset...).
            tags: Extra tags; the ``autokd.role`` and ``autokd.study`` tags are added.

        Returns:
            The parent run id.
        """
        all_tags = {**tags, ROLE_TAG: "study", STUDY_TAG: study_name}
        run = self._find_study_run(study_name)
        if run is None:
            run = self._client.create_run(self._experiment_id, tags=all_tags, run_name=study_name)
            self._log_params(run.info.run_id, params)
            return run.info.run_id
        run_id = run.info.run_id
        self._client.update_run(run_id, status="RUNNING")
        self.set_tags(run_id, all_tags)
        self._log_params(run_id, self._new_params(run, params))
        return run_id

    def _find_study_run(self, study_name: str) -> mlflow.entities.Run | None:
        # NOTE(tracking): the study name is compared here rather than in the filter string,
        # so names with quotes need no escaping.
        runs = self._search(f"tags.`{ROLE_TAG}` = 'study'")
        matches = [r for r in runs if r.data.tags.get(STUDY_TAG) == study_name]
        return min(matches, key=lambda r: r.info.start_time) if matches else None

    @staticmethod
    def _new_params(run: mlflow.entities.Run, params: Mapping[str, object]) -> dict[str, object]:
        logged = run.data.params
        for key, value in params.items():
            if key in logged and logged[key] != str(value):
                _logger.warning(
                    "Study run %s keeps param %r = %r; MLflow cannot change it to %r.",
                    run.info.run_id,
                    key,
                    logged[key],
                    str(value),
                )
        return {k: v for k, v in params.items() if k not in logged}

    def start_trial_run(
        self,
        parent_run_id: str,
        trial_number: int,
        *,
        params: Mapping[str, object],
        recipe_yaml: str,
        tags: Mapping[str, str] = {},
    ) -> str:
        """Creates a trial's child run with its params and its recipe.

        Args:
            parent_run_id: The study run from :meth:`start_study_run`.
            trial_number: The Optuna trial number; also logged as ``optuna.trial_number``.
            params: The sampled params under their dotted names (``distill.alpha.value``).
            recipe_yaml: The full recipe, stored as the artifact ``recipe.yaml``.
            tags: Extra tags; the parent, role and trial-number tags are added.

        Returns:
            The child run id.
        """
        all_tags = {
            **tags,
            PARENT_RUN_TAG: parent_run_id,
            ROLE_TAG: "trial",
            TRIAL_NUMBER_TAG: str(trial_number),
        }
        run = self._client.create_run(
            self._experiment_id, tags=all_tags, run_name=f"trial-{trial_number:04d}"
        )
        run_id = run.info.run_id
        self._log_params(run_id, {**params, "optuna.trial_number": trial_number})
        self._client.log_text(run_id, recipe_yaml, "recipe.yaml")
        return run_id

    def child_run(self, parent_run_id: str, role: str, *, run_name: str) -> str:
        """The child run of ``parent_run_id`` with tag ``autokd.role = role``, made once.

        A rerun (a resumed benchmark, say) finds the run it made before and sets it back to
        RUNNING, so the study holds one such run.

        Returns:
            The run id.
        """
        runs = self._search(f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'")
        found = [r for r in runs if r.data.tags.get(ROLE_TAG) == role]
        if found:
            run_id = min(found, key=lambda r: r.info.start_time).info.run_id
            self._client.update_run(run_id, status="RUNNING")
            return run_id
        tags = {PARENT_RUN_TAG: parent_run_id, ROLE_TAG: role}
        return self._client.create_run(
            self._experiment_id, tags=tags, run_name=run_name
        ).info.run_id

    def log_artifact(self, run_id: str, path: str | Path) -> None:
        """Uploads one local file, or a folder as a folder of that name, into the run's
        artifact root."""
        path = Path(path)
        if path.is_dir():
            self._client.log_artifacts(run_id, str(path), artifact_path=path.name)
        else:
            self._client.log_artifact(run_id, str(path))

    def _log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        from mlflow.entities import Param

        entries = [Param(key, str(value)) for key, value in params.items()]
        for chunk in _chunks(entries, _MAX_PARAMS_PER_BATCH):
            self._client.log_batch(run_id, params=chunk)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], *, step: int) -> None:
        """Logs metrics at one step, all with the same timestamp.

        Args:
            run_id: The run to log into.
            metrics: Metric name to value.
            step: The step (epoch) the values belong to.
        """
        from mlflow.entities import Metric

        timestamp_ms = int(time.time() * 1000)
        entries = [Metric(key, float(value), timestamp_ms, step) for key, value in metrics.items()]
        # Normally one call; chunked only past MLflow's 1000-metric batch limit.
        for chunk in _chunks(entries, _MAX_METRICS_PER_BATCH):
            self._client.log_batch(run_id, metrics=chunk)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Sets (or overwrites) tags on a run.

        Args:
            run_id: The run to tag.
            tags: Tag name to value.
        """
        from mlflow.entities import RunTag

        entries = [RunTag(key, str(value)) for key, value in tags.items()]
        # MLflow also limits a batch to 100 tags.
        for chunk in _chunks(entries, _MAX_PARAMS_PER_BATCH):
            self._client.log_batch(run_id, tags=chunk)

    def end_run(self, run_id: str, status: str, *, reason: str | None = None) -> None:
        """Marks a run as terminated.

        Args:
            run_id: The run to end.
            status: ``FINISHED``, ``KILLED`` or ``FAILED`` (see :func:`run_status_for`).
            reason: Why the run failed or was killed; stored in the tag ``autokd.fail_reason``
                (cut to 5000 characters).

        Raises:
            ConfigError: ``status`` is not one of the three terminal statuses.
        """
        if status not in _TERMINAL_STATUSES:
            raise ConfigError("status", f"one of {', '.join(_TERMINAL_STATUSES)}", repr(status))
        if reason is not None:
            self.set_tags(run_id, {FAIL_REASON_TAG: reason[:_MAX_REASON_CHARS]})
        self._client.set_terminated(run_id, status=status)

    def find_trial_runs(self, parent_run_id: str) -> list[mlflow.entities.Run]:
        """The trial runs of a study run, ordered by trial number.

        Args:
            parent_run_id: The study run from :meth:`start_study_run`.

        Returns:
            The child runs (active ones only), lowest trial number first.
        """
        runs = self._search(f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'")
        return sorted(runs, key=lambda r: int(r.data.tags.get(TRIAL_NUMBER_TAG, "-1")))

    def _search(self, filter_string: str) -> list[mlflow.entities.Run]:
        runs: list[mlflow.entities.Run] = []
        page_token = None
        while True:
            page = self._client.search_runs(
                [self._experiment_id], filter_string, page_token=page_token
            )
            runs.extend(page)
            page_token = page.token
            if not page_token:
                return runs
