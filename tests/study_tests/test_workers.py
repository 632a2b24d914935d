"""Several worker processes on one study: shared total, crash recovery, SIGTERM, MLflow server.

The PostgreSQL test starts a private cluster (initdb + pg_ctl on a free loopback port, in a
temporary folder); if PostgreSQL is not installed it FAILS (``.ci/run`` installs it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import closing
import glob
import os
from pathlib import Path
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

import optuna
from optuna.trial import TrialState
import pytest

from autokd.config import StudyConfig
from autokd.study import counted_trials
from autokd.study._objective import SURPLUS_REASON
from autokd.study._storage import open_storage
from autokd.study._storage import with_driver
from tests.conftest import REPO
from tests.conftest import TINY_SPACE
from tests.conftest import write_study

PASSWORD = "pw-Zq81-secret"
FINAL_RUN_STATES = {"FINISHED", "KILLED", "FAILED"}


def _free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not candidates:
        pytest.fail(
            "PostgreSQL is not installed (no pg_ctl on PATH or under /usr/lib/postgresql): "
            "run `apt-get update && apt-get install -y postgresql` (.ci/run does)"
        )
    return Path(candidates[-1]).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A private PostgreSQL cluster; yields a URL with a password (user kd, database autokd)."""
    bin_dir = _pg_bin()
    folder = Path(tempfile.mkdtemp(prefix="autokd-pg-"))
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    data, port = folder / "data", _free_port()

    def run(*cmd: str) -> None:
        done = subprocess.run(_as_postgres(list(cmd)), capture_output=True, text=True)
        if done.returncode:
            pytest.fail(f"{' '.join(cmd)} failed: {done.stdout}{done.stderr}")

    run(str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres")
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder}"
        " -c max_connections=200"
    )
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(folder / "log"),
        "-w",
        "start",
    )
    try:
        psql = [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        run(*psql, "-c", f"CREATE USER kd PASSWORD '{PASSWORD}'")
        run(*psql, "-c", "CREATE DATABASE autokd OWNER kd")
        # A bare postgresql:// URL: autokd makes it postgresql+psycopg2:// (see with_driver).
        yield f"postgresql://kd:{PASSWORD}@127.0.0.1:{port}/autokd"
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _study_file(folder: Path, *, n_trials: int, heartbeat: str = "", space: str = TINY_SPACE):
    study = write_study(folder, n_trials=n_trials, space=space)
    # The teacher's quality does not matter here: one epoch keeps the tests quick.
    study.write_text(study.read_text().replace("epochs: 4, batch_size", "epochs: 1, batch_size"))
    if heartbeat:
        text = study.read_text().replace(
            "  output_dir:", f"  heartbeat: {heartbeat}\n  output_dir:"
        )
        study.write_text(text)
    return study


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _mlflow_trial_runs(study: optuna.Study, tracking_uri: str | None = None) -> list:
    import mlflow

    client = mlflow.MlflowClient(
        tracking_uri=tracking_uri or study.user_attrs["mlflow_tracking_uri"]
    )
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"])
    runs = client.search_runs(
        [parent.info.experiment_id], "tags.`autokd.role` = 'trial'", max_results=1000
    )
    return [parent, runs]


def _pid(trial) -> int | None:
    worker = trial.user_attrs.get("worker")
    return int(worker.rsplit(":", 1)[1]) if worker else None


def _pg_study_exists(url: str) -> bool:
    import sqlalchemy

    engine = sqlalchemy.create_engine(with_driver(url))
    try:
        with engine.connect() as con:
            rows = con.execute(sqlalchemy.text("SELECT 1 FROM studies WHERE study_name = 'tiny'"))
            return rows.first() is not None
    except sqlalchemy.exc.SQLAlchemyError:  # no schema yet
        return False
    finally:
        engine.dispose()


def test_postgres_workers_recover_from_killed_workers(tmp_path: Path, postgres: str) -> None:
    # Rule: 3 workers share n_trials; 2 killed with SIGKILL mid-trial leave trials that go
    # FAIL (heartbeat stale), are retried with the same params elsewhere, and are replaced:
    # the study ends with exactly n_trials COMPLETE/PRUNED, nothing RUNNING, every MLflow
    # trial run ended, and the password never printed nor sent to MLflow.
    n_trials = 24
    study_file = _study_file(
        tmp_path, n_trials=n_trials, heartbeat="{interval: 1, grace_period: 5}"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autokd",
            "run",
            str(study_file),
            "--workers",
            "3",
            "--storage",
            postgres,
            "--no-progress",
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rng = random.Random(0)
    killed: dict[int, int] = {}  # pid -> the trial it was running when killed
    storage = None
    deadline = time.monotonic() + 240
    try:
        while len(killed) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if storage is None:
                if not _pg_study_exists(postgres):
                    continue  # loading now would race the creator in making the schema
                storage = open_storage(postgres)  # one pool: a new one per look leaks connections
            study = optuna.load_study(study_name="tiny", storage=storage)
            running = [
                t
                for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if _pid(t) is not None
                and _pid(t) not in killed
                and "mlflow_run_id" in t.user_attrs
            ]
            if not running or len(study.trials) < 3 + 4 * len(killed):
                continue
            target = running[0]
            time.sleep(rng.uniform(0.0, 0.3))  # a random moment inside the trial
            os.kill(_pid(target), signal.SIGKILL)
            killed[_pid(target)] = target.number
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(killed) == 2, err
    assert proc.returncode == 128 + signal.SIGKILL, err  # the worst worker exit code
    assert PASSWORD not in out + err

    study = optuna.load_study(study_name="tiny", storage=storage or open_storage(postgres))
    trials = study.get_trials()
    states = Counter(t.state for t in trials)
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == n_trials, states
    assert states[TrialState.RUNNING] == states[TrialState.WAITING] == 0, states

    # Each dead trial -> the last retry of its chain (a retry can die too: its worker may be
    # the second one killed).
    retried = {n: t for t in trials for n in t.system_attrs.get("retry_history", ())}
    stale = [t for t in trials if t.state == TrialState.FAIL and t.number in retried]
    # Each kill that landed inside a trial (the trial was RUNNING at the kill) made one.
    landed = {n for n in killed.values() if study.trials[n].state == TrialState.FAIL}
    assert landed, "no kill landed inside a trial"
    assert landed <= {t.number for t in stale}
    # Only the killed workers' trials went stale (one killed right after starting a trial
    # may not have written its `worker` attribute yet).
    assert all(_pid(t) in killed or _pid(t) is None for t in stale)
    for t in stale:
        retry = retried[t.number]
        # Same parameters, run again. A worker killed right after it created a trial, before
        # that trial sampled anything, leaves no parameters: its retry samples its own.
        if t.params:
            assert retry.params == t.params
        assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED)
        assert "no heartbeat" in retry.user_attrs["retry_reason"]
    other_fails = [t for t in trials if t.state == TrialState.FAIL and t.number not in retried]
    assert all(t.user_attrs.get("fail_reason") for t in other_fails), other_fails

    # No duplicated params except a trial and its retry.
    by_params = Counter(
        tuple(sorted(t.params.items())) for t in trials if t.number not in retried and t.params
    )
    assert max(by_params.values()) == 1

    parent, runs = _mlflow_trial_runs(study)
    assert {r.info.status for r in runs} <= FINAL_RUN_STATES
    for t in stale:
        of_trial = [r for r in runs if r.data.tags["autokd.trial_number"] == str(t.number)]
        assert of_trial or t.number not in landed  # a landed kill had started its run
        for run in of_trial:
            assert run.info.status == "FAILED"
            assert "no heartbeat" in run.data.tags["autokd.fail_reason"]
    shown = [parent.data.tags.get("optuna.storage", ""), *parent.data.params.values()]
    assert "optuna.storage" in parent.data.tags
    assert not any(PASSWORD in value for value in shown)


def test_sqlite_run_with_two_workers(tmp_path: Path) -> None:
    # Rule: `autokd run --workers 2` creates the study once, both workers run trials on the
    # default SQLite storage, and the study holds exactly n_trials; the study run finishes.
    n_trials = 8
    study_file = _study_file(tmp_path, n_trials=n_trials)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "autokd",
            "run",
            str(study_file),
            "--workers",
            "2",
            "--no-progress",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"{n_trials} trials" in done.stdout
    config = StudyConfig.from_yaml(study_file)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url())
    trials = study.get_trials()
    assert counted_trials(study) == n_trials
    assert all(t.state.is_finished() for t in trials)
    # A trial beyond n_trials only appears when both workers race for the last one.
    extra = [t for t in trials if t.user_attrs.get("fail_reason") == SURPLUS_REASON]
    assert len(trials) == n_trials + len(extra) and len(extra) <= 1
    trials = [t for t in trials if t not in extra]
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers took part
    assert len({tuple(sorted(t.params.items())) for t in trials}) == n_trials
    parent, runs = _mlflow_trial_runs(study)
    assert parent.info.status == "FINISHED"
    assert len(runs) == n_trials and {r.info.status for r in runs} <= FINAL_RUN_STATES


def test_worker_needs_an_existing_study(tmp_path: Path) -> None:
    # Rule: a worker on a storage without the study exits 2 with one line, writing nothing.
    study_file = _study_file(tmp_path, n_trials=2)
    db = tmp_path / "nothing.db"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "autokd",
            "worker",
            str(study_file),
            "--storage",
            f"sqlite:///{db}",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not" in lines[0] and "tiny" in lines[0], done.stderr
    assert not db.exists() and not (tmp_path / "run").exists()


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """An MLflow tracking server on a free loopback port (one process, no job runner)."""
    import urllib.request

    port = _free_port()
    folder = tmp_path / "mlflow-server"
    folder.mkdir()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    cmd = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder}/mlflow.db",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        cmd, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (folder / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start in 120 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the child it started
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_two_workers_log_to_an_mlflow_server(tmp_path: Path, mlflow_server: str) -> None:
    # Rule: with --tracking-uri http://..., both workers log their trials to the server: one
    # run per trial, each ended, tagged with the worker that ran it, under the study's run.
    import mlflow

    n_trials = 6
    study_file = _study_file(tmp_path, n_trials=n_trials)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "autokd",
            "run",
            str(study_file),
            "--workers",
            "2",
            "--tracking-uri",
            mlflow_server,
            "--no-progress",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    config = StudyConfig.from_yaml(study_file)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url())
    assert study.user_attrs["mlflow_tracking_uri"] == mlflow_server
    assert not (config.output_dir / "mlflow.db").exists()  # nothing tracked locally
    parent, runs = _mlflow_trial_runs(study, mlflow_server)
    assert parent.info.status == "FINISHED"
    assert len(runs) == n_trials
    assert {r.info.status for r in runs} <= FINAL_RUN_STATES
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {parent.info.run_id}
    assert len({r.data.tags["autokd.worker"] for r in runs}) == 2
    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    run = runs[0]
    assert "recipe.yaml" in [f.path for f in client.list_artifacts(run.info.run_id)]


def test_grpc_storage_proxy_serves_a_study(tmp_path: Path) -> None:
    # Rule: `autokd storage-proxy` serves an SQLite storage over gRPC; a run against
    # grpc://HOST:PORT stores its trials in that database.
    from autokd.study import run_study

    db = tmp_path / "served.db"
    port = _free_port()
    proxy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autokd",
            "storage-proxy",
            "--storage",
            f"sqlite:///{db}",
            "--port",
            str(port),
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proxy.stdout.readline()
        assert f"at grpc://127.0.0.1:{port}" in line, proxy.stderr.read()
        config = StudyConfig.from_yaml(_study_file(tmp_path, n_trials=2))
        run_study(config, storage=f"grpc://127.0.0.1:{port}", progress=False)
    finally:
        proxy.send_signal(signal.SIGINT)
        proxy.wait(timeout=30)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) == 2


def _started_trials(db: Path) -> int:
    """RUNNING trials that have started their MLflow run, read-only (never creates the file
    or the schema while the study's creator does)."""
    if not db.is_file():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            (count,) = con.execute(
                "SELECT count(*) FROM trials t JOIN trial_user_attributes a"
                " ON a.trial_id = t.trial_id"
                " WHERE t.state = 'RUNNING' AND a.key = 'mlflow_run_id'"
            ).fetchone()
    except sqlite3.OperationalError:  # no schema yet, or busy
        return 0
    return count


def test_sigterm_to_run_with_workers_reaches_every_worker(tmp_path: Path) -> None:
    # Rule: SIGTERM to `autokd run --workers 2` is passed on: each worker records its running
    # trial as interrupted, and the command exits 143 with nothing left RUNNING.
    study_file = _study_file(
        tmp_path, n_trials=4, space=TINY_SPACE.replace("epochs: 3", "epochs: 300")
    )
    config = StudyConfig.from_yaml(study_file)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autokd",
            "run",
            str(study_file),
            "--workers",
            "2",
            "--no-progress",
        ],
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.5)
            if _started_trials(Path(config.storage_url().removeprefix("sqlite:///"))) == 2:
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    study = optuna.load_study(study_name="tiny", storage=config.storage_url())
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert {t.user_attrs["fail_reason"] for t in trials} == {"interrupted"}
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    parent, runs = _mlflow_trial_runs(study)
    assert parent.info.status == "KILLED"
    assert {r.info.status for r in runs} == {"FAILED"}


def test_workers_must_be_positive(tmp_path: Path) -> None:
    # Rule: --workers 0 is bad input: exit 2, one line, nothing written.
    from autokd.cli import main

    study_file = _study_file(tmp_path, n_trials=2)
    assert main(["run", str(study_file), "--workers", "0"]) == 2
    assert not (tmp_path / "run").exists()
