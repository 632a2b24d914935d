"""Several processes on one study: ``autokd worker`` and ``autokd run --workers K``.

Optuna's storage is the only coordination. Each worker loops: fail the trials whose worker
died (heartbeats, RDB storages only), count the study's budget, start a trial if the budget
has room (or a queued retry is waiting), else wait for the running trials to finish or go
stale, and stop when the study holds ``n_trials`` counted trials. Two workers that race for
the last trial are settled by trial number: the later one fails at once as surplus (see
:class:`autokd.study._objective.Objective`), untrained and uncounted.
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime
import hashlib
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

from autokd._signals import Terminated
from autokd.config import StudyConfig
from autokd.logging import get_logger
from autokd.study._concurrency import resolve_n_jobs
from autokd.study._objective import TRIAL_ERRORS
from autokd.study._objective import WORKER_ID
from autokd.study._objective import free_memory_after_oom
from autokd.study._optimize import PreparedStudy
from autokd.study._optimize import _Progress
from autokd.study._optimize import counted_trials
from autokd.study._optimize import finish_study
from autokd.study._optimize import is_pending
from autokd.study._optimize import prepare_study
from autokd.study._storage import STORAGE_ENV
from autokd.study._storage import fail_orphaned_trials
from autokd.study._storage import fail_stale_trials
from autokd.study._storage import has_heartbeat
from autokd.study._storage import mask_url

__all__ = ["STORAGE_ENV", "THREADS_ENV", "WORKER_INDEX_ENV", "run_worker", "run_workers"]

_logger = get_logger(__name__)

#: Torch CPU threads for this worker (set by ``autokd run --workers`` on a CPU host).
THREADS_ENV = "AUTOKD_TORCH_THREADS"
#: This worker's index among the ones ``autokd run --workers`` started (seeds its sampler).
WORKER_INDEX_ENV = "AUTOKD_WORKER_INDEX"
#: Set by ``autokd run --workers`` in its workers: the parent ends the study's MLflow run.
SPAWNED_ENV = "AUTOKD_SPAWNED"

_POLL_S = 1.0  # seconds between looks at the storage while waiting


@dataclass(frozen=True)
class _Budget:
    counted: int
    running: int
    waiting: int


def _budget(study: optuna.Study) -> _Budget:
    trials = study.get_trials(deepcopy=False)
    now = datetime.datetime.now()
    pending = [t for t in trials if is_pending(t, now)]
    return _Budget(
        counted=counted_trials(study),
        running=sum(t.state == TrialState.RUNNING for t in pending),
        waiting=sum(t.state == TrialState.WAITING for t in pending),
    )


def _seed_offset() -> int:
    """Distinct per worker, so workers do not draw the same random start-up trials."""
    index = os.environ.get(WORKER_INDEX_ENV)
    if index is not None and index.isdigit():
        return 1 + int(index)
    return 1 + int(hashlib.sha256(WORKER_ID.encode()).hexdigest()[:7], 16)


def run_worker(
    config: StudyConfig,
    *,
    storage: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    device: str | None = None,
    tracking_uri: str | None = None,
    progress: bool = True,
) -> optuna.Study:
    """Joins an existing study and runs trials until it holds ``n_trials`` counted trials.

    The total is shared by every worker: each starts a trial only while the study's counted,
    running and waiting trials leave room. When nothing is left to start but trials are still
    running elsewhere, a worker on a heartbeat storage waits for them: if their worker died,
    it fails them and runs their retries.

    Args:
        config: The parsed study file.
        storage: The storage URL holding the study (default: the study file's, else SQLite
            in the study folder).
        n_trials: The study's total (default: the study file's).
        timeout: Stop starting trials after this many seconds.
        device: Training device (default: the study file's).
        tracking_uri: MLflow tracking URI (default: the one the study's creator used).
        progress: Show a live progress bar on stderr.

    Returns:
        The study.

    Raises:
        ConfigError: Bad input, or no such study in ``storage`` (nothing written).
        KeyboardInterrupt: On Ctrl-C or SIGTERM, after recording the running trial as failed
            ("interrupted").
    """
    threads = os.environ.get(THREADS_ENV)
    if threads and threads.isdigit() and int(threads) > 0:
        import torch

        torch.set_num_threads(int(threads))
    prep = prepare_study(
        config,
        n_trials=n_trials,
        timeout=timeout,
        device=device,
        storage=storage,
        tracking_uri=tracking_uri,
        create=False,
        sampler_seed_offset=_seed_offset(),
    )
    _logger.info(
        "worker %s joined study '%s' in %s",
        WORKER_ID,
        prep.study.study_name,
        mask_url(prep.url).split("?")[0],
    )
    bar = _Progress(total=prep.total, done=counted_trials(prep.study), enabled=progress)
    try:
        _work(prep, bar)
    except KeyboardInterrupt:
        if not _budget(prep.study).running and not os.environ.get(SPAWNED_ENV):
            prep.tracker.end_run(prep.parent_run_id, "KILLED", reason="interrupted")
        raise
    finally:
        bar.close()
    state = _budget(prep.study)
    if state.counted >= prep.total and not state.running and not os.environ.get(SPAWNED_ENV):
        from autokd.study._optimize import _log_summary

        _log_summary(prep.tracker, prep.parent_run_id, prep.study)
        prep.tracker.end_run(prep.parent_run_id, "FINISHED")
    return prep.study


def _work(prep: PreparedStudy, bar: _Progress) -> None:
    study, total = prep.study, prep.total
    objective = prep.objective(budget=total)
    n_jobs = resolve_n_jobs(prep.config.engine.n_jobs, prep.device)
    heartbeat = has_heartbeat(study._storage)
    start = time.monotonic()
    while True:
        left = None if prep.timeout is None else prep.timeout - (time.monotonic() - start)
        if left is not None and left <= 0:
            return
        if heartbeat:
            fail_stale_trials(study)
            fail_orphaned_trials(study, prep.config.study.heartbeat.grace_period)
        state = _budget(study)
        if state.counted >= total:
            return
        room = total - state.counted - state.running - state.waiting
        startable = max(room, 0) + state.waiting
        if startable <= 0:
            if not heartbeat:
                return  # the running trials' workers finish them; a dead one's stay RUNNING
            time.sleep(_POLL_S)  # wait: they finish, or go stale and come back as retries
            continue
        n = min(n_jobs, startable)
        study.optimize(
            objective,
            n_trials=n,
            n_jobs=n,
            timeout=left,
            catch=TRIAL_ERRORS,
            callbacks=[bar, free_memory_after_oom],
            gc_after_trial=False,
        )


def _worker_envs(workers: int, device: object, url: str) -> list[dict[str, str]]:
    """One environment per worker: its index, the storage, and its GPU or CPU threads."""
    import torch

    base = {**os.environ, STORAGE_ENV: url, SPAWNED_ENV: "1"}
    envs = []
    gpus = torch.cuda.device_count() if getattr(device, "type", "") == "cuda" else 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for i in range(workers):
        env = {**base, WORKER_INDEX_ENV: str(i)}
        if gpus > 1 and getattr(device, "index", None) is None:
            env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)  # one worker per GPU, round robin
        elif gpus == 0:
            env[THREADS_ENV] = str(max(1, (cores or 1) // workers))
        envs.append(env)
    return envs


def run_workers(
    config: StudyConfig,
    workers: int,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    device: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    progress: bool = True,
) -> tuple[optuna.Study, int]:
    """Creates the study once, runs ``workers`` ``autokd worker`` processes on it, waits.

    The study, its teacher and its MLflow run are made here first (workers racing to create
    the schema of an empty PostgreSQL database crash). On a host with several GPUs each
    worker gets one (``CUDA_VISIBLE_DEVICES``, round robin); on CPU the cores are split
    between them (``AUTOKD_TORCH_THREADS``). Ctrl-C or SIGTERM here is passed on to every
    worker; each records its running trial as interrupted.

    Args:
        config: The parsed study file.
        workers: How many worker processes (>= 2).
        n_trials: Total trials (default: the study file's).
        timeout: Each worker stops starting trials after this many seconds.
        device: Training device (default: the study file's).
        storage: Optuna storage URL (default: the study file's, else SQLite in the folder).
        tracking_uri: MLflow tracking URI.
        progress: Show a live progress bar on stderr (fed from the storage).

    Returns:
        The study, and the workers' worst exit code: the highest, with a worker killed by
        signal N counted as 128 + N (0 when all succeeded).

    Raises:
        ConfigError: On bad input (nothing written).
        KeyboardInterrupt: On Ctrl-C or SIGTERM, once every worker has exited.
    """
    prep = prepare_study(
        config,
        n_trials=n_trials,
        timeout=timeout,
        device=device,
        storage=storage,
        tracking_uri=tracking_uri,
    )
    cmd = [sys.executable, "-m", "autokd", "worker", str(config.file), "--no-progress"]
    cmd += ["--n-trials", str(prep.total), "--device", str(prep.device)]
    if prep.timeout is not None:
        cmd += ["--timeout", str(prep.timeout)]
    envs = _worker_envs(workers, prep.device, prep.url)
    for env in envs:  # by environment, not argv: it may hold a password
        env["MLFLOW_TRACKING_URI"] = prep.tracker.tracking_uri
    if config.study.output_dir is None:
        # The default folder is relative to the working folder: give the workers ours.
        cwd = str(Path.cwd())
    else:
        cwd = None
    procs = [subprocess.Popen(cmd, env=env, cwd=cwd) for env in envs]
    _logger.info("started %d workers (pids %s)", workers, ", ".join(str(p.pid) for p in procs))
    bar = _Progress(total=prep.total, done=counted_trials(prep.study), enabled=progress)
    try:
        _wait(procs, prep.study, bar)
    except KeyboardInterrupt as exc:
        sig = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        for p in procs:
            if p.poll() is None:
                p.send_signal(sig)
        for p in procs:
            p.wait()
        prep.tracker.end_run(prep.parent_run_id, "KILLED", reason="interrupted")
        raise
    finally:
        bar.close()
    codes = [128 - c if c < 0 else c for c in (p.returncode for p in procs)]
    worst = max(codes)
    if worst == 0:
        finish_study(prep, None)
    else:
        _logger.warning("worker exit codes: %s", ", ".join(map(str, codes)))
        prep.tracker.end_run(prep.parent_run_id, "FAILED", reason=f"worker exit codes {codes}")
    return prep.study, worst


def _wait(procs: list[subprocess.Popen], study: optuna.Study, bar: _Progress) -> None:
    shown = bar.bar.n
    while any(p.poll() is None for p in procs):
        time.sleep(_POLL_S)
        done = counted_trials(study)
        if done > shown:
            bar.bar.update(done - shown)
            shown = done
