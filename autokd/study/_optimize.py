"""Create or resume a study and run it to its total number of trials."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import datetime
from pathlib import Path
import sys
from typing import Any

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from autokd.config import StudyConfig
from autokd.data import load_splits
from autokd.engine import TeacherCache
from autokd.engine import resolve_device
from autokd.exceptions import ConfigError
from autokd.logging import get_logger
from autokd.recipe import TeacherSpec
from autokd.study._check import check_study
from autokd.study._concurrency import DeviceGate
from autokd.study._concurrency import resolve_n_jobs
from autokd.study._factories import build_pruner
from autokd.study._factories import build_sampler
from autokd.study._objective import SURPLUS_REASON
from autokd.study._objective import TRIAL_ERRORS
from autokd.study._objective import Objective
from autokd.study._objective import free_memory_after_oom
from autokd.study._resolution import study_validation_note
from autokd.study._storage import ORPHAN_REASON
from autokd.study._storage import StaleTrialHandler
from autokd.study._storage import mask_url
from autokd.study._storage import open_storage
from autokd.study._teacher import ensure_teacher
from autokd.study._warm import warm_start_params
from autokd.tracking import MlflowTracker
from autokd.tracking import default_artifact_location
from autokd.tracking import resolve_tracking_uri

__all__ = [
    "PreparedStudy",
    "counted_trials",
    "finish_study",
    "is_pending",
    "prepare_study",
    "retried_trials",
    "run_study",
    "study_teacher_cache",
    "trials_before",
]

_logger = get_logger(__name__)


#: ``fail_reason`` values of trials that do not count towards ``n_trials`` (they are redone).
UNCOUNTED_REASONS = ("interrupted", SURPLUS_REASON, ORPHAN_REASON)


def retried_trials(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of the trials a worker died in that were queued again (their retries count)."""
    return {n for t in trials for n in t.system_attrs.get("retry_history", ())}


def counted_trials(study: optuna.Study) -> int:
    """Trials that count towards ``n_trials``: every finished one, except interrupted ones,
    surplus ones (a worker started one too many) and those retried after their worker died."""
    return _count_finished(study.get_trials(deepcopy=False))


def _count_finished(trials: Sequence[FrozenTrial], retried: set[int] | None = None) -> int:
    retried = retried_trials(trials) if retried is None else retried
    return sum(
        1
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        and t.user_attrs.get("fail_reason") not in UNCOUNTED_REASONS
        and t.number not in retried
    )


#: Seconds after which a RUNNING trial without a ``worker`` attribute (every autokd worker
#: sets it first thing) counts as left behind by something else, such as an autokd without
#: heartbeats that crashed: it is never recovered, so it must not hold a place in the budget.
FOREIGN_AFTER_S = 60.0


def is_pending(trial: FrozenTrial, now: datetime.datetime | None = None) -> bool:
    """Whether ``trial`` will count once it ends: WAITING, or RUNNING in an autokd worker."""
    if trial.state == TrialState.WAITING:
        return True
    if trial.state != TrialState.RUNNING:
        return False
    if "worker" in trial.user_attrs or trial.datetime_start is None:
        return True
    age = (now or datetime.datetime.now()) - trial.datetime_start
    return age.total_seconds() < FOREIGN_AFTER_S


def trials_before(trials: Sequence[FrozenTrial], number: int) -> int:
    """How much of the budget the trials numbered below ``number`` take: the counted ones plus
    the pending ones (:func:`is_pending`). Trial numbers are handed out by the storage one by
    one, so every worker sees the same order."""
    lower = [t for t in trials if t.number < number]
    now = datetime.datetime.now()
    pending = sum(is_pending(t, now) for t in lower)
    # Retries of lower trials may be numbered higher (trial ``number`` itself, say): the
    # trials they replace must not count.
    return _count_finished(lower, retried_trials(trials)) + pending


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


@dataclass
class PreparedStudy:
    """A study opened for optimisation: everything a process needs to run its trials."""

    config: StudyConfig
    space: Any
    device: Any
    data: Any
    study: optuna.Study
    teacher: Any
    tracker: MlflowTracker
    parent_run_id: str
    total: int
    timeout: float | None
    url: str

    def objective(self, *, budget: int | None = None) -> Objective:
        """The trial function; with ``budget``, a trial past it fails as surplus at once."""
        config = self.config
        n_jobs = resolve_n_jobs(config.engine.n_jobs, self.device)
        return Objective(
            self.space,
            data=self.data,
            teacher=self.teacher,
            tracker=self.tracker,
            parent_run_id=self.parent_run_id,
            device=self.device,
            objectives=config.study.objectives,
            constraints=config.study.constraints,
            teacher_cache=study_teacher_cache(config),
            **config.engine.train_options(),
            gate=DeviceGate(n_jobs, self.device) if n_jobs > 1 else None,
            budget=budget,
        )


def prepare_study(
    config: StudyConfig,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    device: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    create: bool = True,
    sampler_seed_offset: int = 0,
) -> PreparedStudy:
    """Validates everything, then creates (or, with ``create=False``, joins) the study.

    Creating also trains or loads the teacher, opens the study's MLflow run and queues the
    warm starts; joining reads the teacher the creator recorded (training it here only when
    its checkpoint is not on this machine) and checks the split is the study's.

    Args:
        config: The parsed study file.
        n_trials: Total trials wanted (default: the study file's).
        timeout: Stop starting trials after this many seconds.
        device: Training device (default: the study file's).
        storage: Optuna storage URL (default: the study file's, else SQLite in the folder).
        tracking_uri: MLflow tracking URI (flag > MLFLOW_TRACKING_URI > study file > default).
        create: Create the study if missing; False: it must exist.
        sampler_seed_offset: Added to the sampler's seed, so that workers sharing a study do
            not draw the same random start-up trials.

    Returns:
        The prepared study.

    Raises:
        ConfigError: On bad input, or (``create=False``) a storage without the study.
    """
    space = check_study(config)
    dev = resolve_device(device or config.device)
    total = n_trials or config.study.n_trials
    spec = config.study.sampler
    if sampler_seed_offset and spec.seed is not None:
        spec = spec.model_copy(update={"seed": (spec.seed + sampler_seed_offset) % 2**32})
    sampler = build_sampler(spec, space=space)
    pruner = build_pruner(config.study.pruner)

    # Reading the data first: missing or corrupt files stop the run before anything is written.
    # Every trial's recipe (and the exported one) records which split it was searched on.
    splits = load_splits(config.data)
    data = config.data.model_copy(update={"split_hash": splits.split_hash})
    note = study_validation_note(config, len(splits.val_y)) if create else None
    if note:
        _logger.warning("%s", note)
    out = config.output_dir
    url = config.storage_url(storage)
    heartbeat = config.study.heartbeat
    on_stale = StaleTrialHandler(
        grace_period=heartbeat.grace_period, max_retry=heartbeat.max_retry
    )
    if create:
        out.mkdir(parents=True, exist_ok=True)
        # The teacher first: a worker that joins once the study exists finds it recorded.
        teacher = ensure_teacher(config, device=dev)
        store = open_storage(url, heartbeat=heartbeat, on_stale=on_stale)
        study = optuna.create_study(
            study_name=config.study.name,
            storage=store,
            sampler=sampler,
            pruner=pruner,
            directions=config.study.directions,
            load_if_exists=True,
        )
    else:
        study = _join(config, url, sampler, pruner, on_stale)
        _wait_for_creator(config, study)
        if study.user_attrs.get("split_hash") not in (None, data.split_hash):
            raise ConfigError(
                "data",
                f"the split study '{study.study_name}' was searched on "
                f"(split_hash {study.user_attrs['split_hash'][:12]}...)",
                f"split_hash {data.split_hash[:12]}... on this machine",
                file=str(config.file),
                hint="Give every worker the same data files and data section.",
            )
    _check_objectives(config, study)
    if not create:
        teacher = _joined_teacher(config, study, dev)
    if create:
        study.set_user_attr("teacher", teacher.model_dump(mode="json"))
        study.set_user_attr("split_hash", data.split_hash)
        study.set_user_attr("study_file", str(config.file))

    uri = _tracking_uri(tracking_uri, config, None if create else study, out)
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
        # Never the password: the tag is readable by anyone who can read the tracking server.
        tags={"optuna.storage": mask_url(url).split("?")[0]},
    )
    on_stale.bind(tracker, parent)
    if create:
        tracker.log_metrics(
            parent,
            {
                "teacher_val_acc": teacher.val_acc or 0.0,
                "teacher_test_acc": teacher.test_acc or 0.0,
            },
            step=0,
        )
        study.set_user_attr("mlflow_parent_run_id", parent)
        study.set_user_attr("mlflow_tracking_uri", mask_url(uri))
        if not study.get_trials(deepcopy=False):  # a new study runs its warm starts first
            for label, params in warm_start_params(config, space):
                study.enqueue_trial(params, user_attrs={"warm_start": label}, skip_if_exists=True)
    return PreparedStudy(
        config=config,
        space=space,
        device=dev,
        data=data,
        study=study,
        teacher=teacher,
        tracker=tracker,
        parent_run_id=parent,
        total=total,
        timeout=timeout or config.study.timeout,
        url=url,
    )


def _join(config, url, sampler, pruner, on_stale) -> optuna.Study:
    """Loads an existing study; never creates a database or a study."""
    name = config.study.name
    missing = ConfigError(
        "--storage",
        f"a storage that holds the study '{name}'",
        f"{mask_url(url)}, which does not",
        file=str(config.file),
        hint=f"Create it first: autokd run {config.file} --storage URL (or --workers K).",
    )
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise missing  # opening would create an empty database
    store = open_storage(url, heartbeat=config.study.heartbeat, on_stale=on_stale)
    try:
        return optuna.load_study(study_name=name, storage=store, sampler=sampler, pruner=pruner)
    except KeyError:
        raise missing from None


#: Seconds a joining worker waits for the study's creator to record its teacher and split.
_CREATOR_WAIT_S = 60.0


def _wait_for_creator(config: StudyConfig, study: optuna.Study) -> None:
    """The creator records the teacher right after creating the study; wait for that."""
    import time

    deadline = time.monotonic() + _CREATOR_WAIT_S
    while "teacher" not in study.user_attrs:
        if time.monotonic() > deadline:
            raise ConfigError(
                "teacher",
                f"study '{study.study_name}' to record its teacher",
                f"none after {_CREATOR_WAIT_S:.0f} s",
                file=str(config.file),
                hint="Is its `autokd run` still starting? Start workers once it runs trials.",
            )
        time.sleep(1.0)


def _joined_teacher(config: StudyConfig, study: optuna.Study, dev: Any) -> TeacherSpec:
    """The teacher the study's creator recorded: its checkpoint must be on this machine
    (same path, same SHA-256), or the study file must name a checkpoint with that hash.
    A worker never trains a teacher of its own: on another machine it could differ."""
    from autokd.models import file_sha256

    spec = TeacherSpec.model_validate(study.user_attrs["teacher"])
    path = Path(spec.checkpoint) if spec.checkpoint else None
    if path is not None and path.is_file() and file_sha256(path) == spec.sha256:
        return spec
    if config.checkpoint_path is not None:
        named = ensure_teacher(config, device=dev)
        if named.sha256 == spec.sha256:
            return named
    raise ConfigError(
        "teacher",
        f"the teacher of study '{study.study_name}' on this machine "
        f"({spec.checkpoint}, sha256 {spec.sha256[:12]}...)",
        "no such file" if path is None or not path.is_file() else "a file with another hash",
        file=str(config.file),
        hint="Copy the teacher file (and its .json) to the same path here, or name a shared "
        "copy as teacher.checkpoint in the study file.",
    )


def _tracking_uri(
    flag: str | None, config: StudyConfig, joined: optuna.Study | None, out: Path
) -> str:
    """Flag, environment, study file, default; a worker (``joined``) uses the URI the study's
    creator recorded before the default (unless it was masked), so it logs where they do."""
    fallback = config.study.tracking_uri
    recorded = joined.user_attrs.get("mlflow_tracking_uri") if joined is not None else None
    if not fallback and recorded and "***" not in recorded:
        fallback = recorded
    return resolve_tracking_uri(flag, fallback, out)


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
    prep = prepare_study(
        config,
        n_trials=n_trials,
        timeout=timeout,
        device=device,
        storage=storage,
        tracking_uri=tracking_uri,
    )
    study, tracker, parent, total = prep.study, prep.tracker, prep.parent_run_id, prep.total
    dev = prep.device
    done = counted_trials(study)
    if done >= total:
        _logger.info(
            "study '%s' already holds %d trials (n_trials=%d)", study.study_name, done, total
        )
        _final_eval(config, study, dev, tracker, parent, study_teacher_cache(config))
        tracker.end_run(parent, "FINISHED")
        return study
    objective = prep.objective()
    cache = objective.teacher_cache
    n_jobs = resolve_n_jobs(config.engine.n_jobs, dev)
    bar = _Progress(total=total, done=done, enabled=progress)
    try:
        study.optimize(
            objective,
            n_jobs=n_jobs,
            n_trials=total - done,
            timeout=prep.timeout,
            catch=TRIAL_ERRORS,
            callbacks=[bar, free_memory_after_oom],
            gc_after_trial=False,
        )
    except KeyboardInterrupt:
        tracker.end_run(parent, "KILLED", reason="interrupted")
        raise
    finally:
        bar.close()
    finish_study(prep, cache)
    return study


def finish_study(prep: PreparedStudy, cache: TeacherCache | None) -> None:
    """Logs the summary on the study run, runs final_eval, and ends the study run."""
    tracker, parent = prep.tracker, prep.parent_run_id
    _log_summary(tracker, parent, prep.study)
    if cache is not None:
        stats = cache.stats
        _logger.info(
            "teacher cache: %d entries stored, %d read, %d teacher batches run, %.1f MiB held",
            stats.stored,
            stats.hits,
            stats.teacher_batches,
            cache.memory_used / 2**20,
        )
    _final_eval(prep.config, prep.study, prep.device, tracker, parent, cache)
    tracker.end_run(parent, "FINISHED")


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
