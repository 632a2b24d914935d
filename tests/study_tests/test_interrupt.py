"""Ctrl-C during a trial: exit code 130, the trial FAIL with reason "interrupted", run ended."""

from __future__ import annotations

from contextlib import closing
import os
from pathlib import Path
import signal
import sqlite3
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

from autokd.config import StudyConfig
from tests.conftest import REPO
from tests.conftest import TINY_SPACE
from tests.conftest import write_study


def _running_trial(db: Path) -> bool:
    # A short read-only look at the file, so the test never holds the writer's lock for long.
    if not db.exists():
        return False
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            rows = con.execute("SELECT count(*) FROM trials WHERE state = 'RUNNING'").fetchone()
    except sqlite3.OperationalError:  # schema not created yet, or busy
        return False
    return rows[0] > 0


def test_sigint_stops_cleanly(tmp_path: Path) -> None:
    # Long trials, so the signal lands inside one.
    study_file = write_study(
        tmp_path, n_trials=3, space=TINY_SPACE.replace("epochs: 3", "epochs: 200")
    )
    config = StudyConfig.from_yaml(study_file)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "autokd", "run", str(study_file), "--no-progress"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    db = Path(config.storage_url().removeprefix("sqlite:///"))
    while time.monotonic() < deadline and not _running_trial(db):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.5)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err

    study = optuna.load_study(study_name="tiny", storage=config.storage_url())
    (trial,) = study.get_trials()
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["fail_reason"] == "interrupted"

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=study.user_attrs["mlflow_tracking_uri"])
    run = client.get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert run.data.tags["autokd.fail_reason"] == "interrupted"
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.status == "KILLED"


def _start_and_signal(cmd: list[str], db: Path, sig: int) -> tuple[int, str]:
    """Starts ``cmd``, waits until a trial runs, sends ``sig``; returns exit code and stderr."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _running_trial(db):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.5)
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_sigterm_stops_like_ctrl_c_and_the_same_command_resumes(tmp_path: Path) -> None:
    # Rule: SIGTERM records the running trial as "interrupted" and ends its MLflow run, like
    # Ctrl-C, but exits 143; the same command then resumes the study to its total.
    study_file = write_study(
        tmp_path, n_trials=2, space=TINY_SPACE.replace("epochs: 3", "epochs: 200")
    )
    config = StudyConfig.from_yaml(study_file)
    db = Path(config.storage_url().removeprefix("sqlite:///"))
    cmd = [sys.executable, "-m", "autokd", "run", str(study_file), "--no-progress"]
    code, err = _start_and_signal(cmd, db, signal.SIGTERM)
    assert code == 143, err
    assert "terminated" in err and "Traceback" not in err

    study = optuna.load_study(study_name="tiny", storage=config.storage_url())
    (trial,) = study.get_trials()
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["fail_reason"] == "interrupted"
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=study.user_attrs["mlflow_tracking_uri"])
    run = client.get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert run.data.tags["autokd.fail_reason"] == "interrupted"
    parent_id = run.data.tags["mlflow.parentRunId"]
    assert client.get_run(parent_id).info.status == "KILLED"

    # Resume: the same command (shorter trials, so the test stays quick).
    (tmp_path / "space.yaml").write_text(TINY_SPACE.replace("epochs: 3", "epochs: 1"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    trials = optuna.load_study(study_name="tiny", storage=config.storage_url()).get_trials()
    assert len(trials) == 3  # the interrupted trial does not count; 2 more ran
    assert all(t.state != TrialState.RUNNING for t in trials[1:])
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 2
    assert client.get_run(parent_id).info.status == "FINISHED"  # the same study run


def test_sigterm_stops_a_worker(tmp_path: Path) -> None:
    # Rule: a worker given SIGTERM records its running trial as interrupted and exits 143.
    from autokd.study import prepare_study

    study_file = write_study(
        tmp_path, n_trials=2, space=TINY_SPACE.replace("epochs: 3", "epochs: 200")
    )
    config = StudyConfig.from_yaml(study_file)
    url = config.storage_url()
    prepare_study(config)  # the creator's part of `autokd run --workers`
    db = Path(url.removeprefix("sqlite:///"))
    cmd = [sys.executable, "-m", "autokd", "worker", str(study_file), "--storage", url]
    code, err = _start_and_signal([*cmd, "--no-progress"], db, signal.SIGTERM)
    assert code == 143, err
    (trial,) = optuna.load_study(study_name="tiny", storage=url).get_trials()
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["fail_reason"] == "interrupted"
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{config.output_dir}/mlflow.db")
    run = client.get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED"
    assert run.data.tags["autokd.fail_reason"] == "interrupted"
