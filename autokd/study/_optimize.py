"""Create or resume a study and run it to its total number of trials."""

from __future__ import annotations

import sys
from typing import Any

import optuna
from optuna.trial import TrialState

from autokd.config import StudyConfig
from autokd.data import load_splits
from autokd.engine import TeacherCache
from autokd.engine import resolve_device
from autokd.exceptions import ConfigError
from autokd.logging import get_logger
from autokd.study._check import check_study
from autokd.study._concurrency import DeviceGate
from autokd.study._concurrency import resolve_n_jobs
from autokd.study._factories import build_pruner
from autokd.study._factories import build_sampler
from autokd.study._factories import open_storage
from autokd.study._objective import TRIAL_ERRORS
from autokd.study._objective import Objective
from autokd.study._teacher import ensure_teacher
from autokd.study._warm import warm_start_params
from autokd.tracking import MlflowTracker
from autokd.tracking import default_artifact_location
from autokd.tracking import resolve_tracking_uri

__all__ = ["counted_trials", "run_study", "study_teacher_cache"]

_logger = get_logger(__name__)


def counted_trials(study: optuna.Study) -> int:
    """Trials that count towards ``n_trials``: every finished one except interrupted ones."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        and t.user_attrs.get("fail_reason") != "interrupted"
    )


def study_teacher_cache(config: StudyConfig) -> TeacherCache | None:
    """The study file's teacher-output cache (``engine.teacher_cache``), or None when off.

    With ``disk_mb`` > 0 its entries are also written to ``<output_dir>/teacher_cache``,
    where workers on the same machine read them.
    """
    settings = config.engine.teacher_cache
    if not settings.enabled:
        return None
    return TeacherCache(
        memory_mb=settings.memory_mb,
        folder=config.output_dir / "teacher_cache" if settings.disk_mb > 0 else None,
        disk_mb=settings.disk_mb,
        dtype=settings.dtype,
        topk=settings.topk,
        features=settings.features,
    )


def run_study(
    config: StudyConfig,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    device: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    progress: bool = True,
) -> optuna.Study:
    """Creates or resumes the study and runs it until it holds ``n_trials`` trials in total.

    Everything is validated before anything is written: a bad space, device or file raises
    before the study folder, the storage or the MLflow database is touched.

    Args:
        config: The parsed study file.
        n_trials: Total trials wanted (default: the study file's); a resumed study only runs
            the missing ones.
        timeout: Stop starting trials after this many seconds.
        device: Training device (default: the study file's).
        storage: Optuna storage URL (default: the study file's, else SQLite in the folder).
        tracking_uri: MLflow tracking URI (flag > MLFLOW_TRACKING_URI > study file > default).
        progress: Show a live progress bar on stderr.

    Returns:
        The Optuna study.

    Raises:
        ConfigError: On bad input (nothing written).
        KeyboardInterrupt: After recording the running trial as failed ("interrupted").
    """
    space = check_study(config)
    dev = resolve_device(device or config.device)
    total = n_trials or config.study.n_trials
    timeout = timeout or config.study.timeout
    sampler = build_sampler(config.study.sampler, space=space)
    pruner = build_pruner(config.study.pruner)

    # Reading the data first: missing or corrupt files stop the run before anything is written.
    # Every trial's recipe (and the exported one) records which split it was searched on.
    data = config.data.model_copy(update={"split_hash": load_splits(config.data).split_hash})
    out = config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=config.study.name,
        storage=open_storage(config.storage_url(storage)),
        sampler=sampler,
        pruner=pruner,
        directions=config.study.directions,
        load_if_exists=True,
    )
    _check_objectives(config, study)
    teacher = ensure_teacher(config, device=dev)
    study.set_user_attr("teacher", teacher.model_dump(mode="json"))
    study.set_user_attr("split_hash", data.split_hash)
    study.set_user_attr("study_file", str(config.file))

    uri = resolve_tracking_uri(tracking_uri, config.study.tracking_uri, out)
    tracker = MlflowTracker(
        uri, config.study.name, artifact_location=default_artifact_location(uri, out)
    )
    parent = tracker.start_study_run(
        config.study.name,
        params={
            "teacher.sha256": teacher.sha256,
            "teacher.family": teacher.model.family,
            "teacher.width": teacher.model.width,
            "teacher.depth": teacher.model.depth,
            "data.name": data.name,
            "data.split_hash": data.split_hash,
            "sampler": config.study.sampler.name,
            "pruner": config.study.pruner.name,
        },
        tags={"optuna.storage": config.storage_url(storage).split("?")[0]},
    )
    tracker.log_metrics(
        parent,
        {"teacher_val_acc": teacher.val_acc or 0.0, "teacher_test_acc": teacher.test_acc or 0.0},
        step=0,
    )
    study.set_user_attr("mlflow_parent_run_id", parent)
    study.set_user_attr("mlflow_tracking_uri", uri)

    done = counted_trials(study)
    if not study.get_trials(deepcopy=False):  # a new study runs its warm starts first
        for label, params in warm_start_params(config, space):
            study.enqueue_trial(params, user_attrs={"warm_start": label}, skip_if_exists=True)
    if done >= total:
        _logger.info(
            "study '%s' already holds %d trials (n_trials=%d)", study.study_name, done, total
        )
        _final_eval(config, study, dev, tracker, parent, study_teacher_cache(config))
        tracker.end_run(parent, "FINISHED")
        return study
    cache = study_teacher_cache(config)
    n_jobs = resolve_n_jobs(config.engine.n_jobs, dev)
    objective = Objective(
        space,
        data=data,
        teacher=teacher,
        tracker=tracker,
        parent_run_id=parent,
        device=dev,
        objectives=config.study.objectives,
        constraints=config.study.constraints,
        teacher_cache=cache,
        compile=config.engine.compile,
        channels_last=None
        if config.engine.channels_last == "auto"
        else config.engine.channels_last,
        gate=DeviceGate(n_jobs, dev) if n_jobs > 1 else None,
    )
    bar = _Progress(total=total, done=done, enabled=progress)
    try:
        study.optimize(
            objective,
            n_jobs=n_jobs,
            n_trials=total - done,
            timeout=timeout,
            catch=TRIAL_ERRORS,
            callbacks=[bar],
            gc_after_trial=False,
        )
    except KeyboardInterrupt:
        tracker.end_run(parent, "KILLED", reason="interrupted")
        raise
    finally:
        bar.close()
    _log_summary(tracker, parent, study)
    if cache is not None:
        stats = cache.stats
        _logger.info(
            "teacher cache: %d entries stored, %d read, %d teacher batches run, %.1f MiB held",
            stats.stored,
            stats.hits,
            stats.teacher_batches,
            cache.memory_used / 2**20,
        )
    _final_eval(config, study, dev, tracker, parent, cache)
    tracker.end_run(parent, "FINISHED")
    return study


def _final_eval(
    config: StudyConfig,
    study: optuna.Study,
    dev: Any,
    tracker: MlflowTracker,
    parent: str,
    cache: TeacherCache | None,
) -> None:
    """The study file's final_eval, logged on the still-open study run."""
    from autokd.study._final_eval import run_final_eval

    try:
        run_final_eval(
            config,
            study,
            device=dev,
            tracker=tracker,
            parent_run_id=parent,
            teacher_cache=cache,
        )
    except KeyboardInterrupt:
        tracker.end_run(parent, "KILLED", reason="interrupted")
        raise


def _check_objectives(config: StudyConfig, study: optuna.Study) -> None:
    """A resumed study must optimise what the study file asks for; record the names."""
    stored = study.user_attrs.get("objectives")  # None: a new study (or an older one)
    directions = [d.name.lower() for d in study.directions]
    if directions != config.study.directions or stored not in (None, config.study.objectives):
        was = ", ".join(stored) if stored else ", ".join(directions)
        raise ConfigError(
            "study.objectives",
            f"the objectives study '{study.study_name}' was created with ({was})",
            repr(config.study.objectives),
            file=str(config.file),
            hint="Give the study a new name to search other objectives.",
        )
    study.set_user_attr("objectives", list(config.study.objectives))


def _log_summary(tracker: MlflowTracker, parent: str, study: optuna.Study) -> None:
    states = [t.state for t in study.get_trials(deepcopy=False)]
    metrics: dict[str, float] = {
        f"n_{s.name.lower()}": float(states.count(s))
        for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    if TrialState.COMPLETE in states:
        if len(study.directions) == 1:
            metrics["best_val_acc"] = study.best_value
        else:
            pareto = study.best_trials
            metrics["pareto_size"] = float(len(pareto))
            metrics["best_val_acc"] = max((t.values[0] for t in pareto), default=0.0)
    tracker.log_metrics(parent, metrics, step=len(states))


class _Progress:
    """A live line: trials done / total, best so far (trial number), pruned and failed counts."""

    def __init__(self, *, total: int, done: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.total = total
        self.bar: Any = tqdm(
            total=total,
            initial=done,
            desc="trials",
            unit="trial",
            disable=not enabled,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        trials = study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        if TrialState.COMPLETE not in states:
            best = "best=-"
        elif len(study.directions) == 1:
            best = f"best={study.best_value:.4f} (#{study.best_trial.number})"
        else:
            best = f"pareto={len(study.best_trials)}"
        self.bar.set_postfix_str(
            f"{best} pruned={states.count(TrialState.PRUNED)} "
            f"failed={states.count(TrialState.FAIL)}",
            refresh=False,
        )
        self.bar.update(1)
        if counted_trials(study) >= self.total:
            study.stop()  # several workers share the total, not n more each

    def close(self) -> None:
        self.bar.close()
