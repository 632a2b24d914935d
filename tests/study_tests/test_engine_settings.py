"""The study file's engine section: teacher cache, concurrent trials, and their validation."""

from __future__ import annotations

from pathlib import Path

import mlflow
import optuna
import pytest
import torch
import yaml

from autokd.config import StudyConfig
from autokd.exceptions import ConfigError
from autokd.study import run_study
from autokd.study._concurrency import DeviceGate
from tests.conftest import write_study

# Four recipes, every one trained to the end: a grid over width x (AT on/off).
GRID_SPACE = """\
seed: 0
student:
  family: cnn
  width: {type: categorical, choices: [0.25, 0.5]}
  depth: 1
optim: {lr: 0.1, epochs: 2, batch_size: 128}
augment: {crop: 1}
distill:
  temperature: 4.0
  alpha: 0.7
  terms:
    kd: {weight: 1.0}
    at:
      enabled:
        type: categorical
        choices:
          true: {weight: 50.0, pair: "stages.1 -> stages.1"}
          false: null
"""


def _grid_study(folder: Path, **engine) -> StudyConfig:
    path = write_study(folder, n_trials=4, space=GRID_SPACE)
    data = yaml.safe_load(path.read_text())
    data["study"]["sampler"] = {"name": "grid", "seed": 0}
    data["study"]["pruner"] = {"name": "nop"}
    data["engine"] = engine
    path.write_text(yaml.safe_dump(data))
    return StudyConfig.from_yaml(path)


def _values(study: optuna.Study) -> dict[tuple, float]:
    return {tuple(sorted(t.params.items())): t.value for t in study.trials}


@pytest.fixture(scope="module")
def sequential_uncached(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple, float]:
    folder = tmp_path_factory.mktemp("plain")
    config = _grid_study(folder, teacher_cache={"enabled": False})
    return _values(run_study(config, progress=False))


def test_cached_study_gives_the_uncached_values(sequential_uncached, tmp_path: Path) -> None:
    config = _grid_study(tmp_path, teacher_cache={"memory_mb": 64, "disk_mb": 64})
    study = run_study(config, progress=False)
    assert _values(study) == sequential_uncached
    assert len(sequential_uncached) == 4
    # Written for other workers: two epochs x (logits + the AT layer's features)
    files = sorted(p.name for p in (config.output_dir / "teacher_cache").rglob("*.pt"))
    assert files == [f"epoch{e:04d}_{k}.pt" for e in range(2) for k in ("feat_stages.1", "logits")]


def test_two_concurrent_trials_give_the_sequential_values(sequential_uncached, tmp_path) -> None:
    config = _grid_study(tmp_path, n_jobs=2)
    study = run_study(config, progress=False)
    states = {t.state for t in study.trials}
    assert states == {optuna.trial.TrialState.COMPLETE} and len(study.trials) == 4
    assert _values(study) == sequential_uncached
    # Every trial's MLflow run ended, each with its own metrics
    client = mlflow.MlflowClient(study.user_attrs["mlflow_tracking_uri"])
    runs = client.search_runs(
        [client.get_experiment_by_name("tiny").experiment_id],
        filter_string="tags.`autokd.role` = 'trial'",
    )
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 4


def test_study_with_compiled_teacher_gives_the_eager_values(
    sequential_uncached, tmp_path: Path
) -> None:
    config = _grid_study(tmp_path, compile="teacher", teacher_cache={"enabled": False})
    assert (config.engine.compile_student, config.engine.compile_teacher) == (False, True)
    got = _values(run_study(config, progress=False))
    assert got.keys() == sequential_uncached.keys()
    for params, value in got.items():  # float rounding may move one validation image
        assert value == pytest.approx(sequential_uncached[params], abs=1 / 288 + 1e-9)


@pytest.mark.parametrize(
    ("compile", "student", "teacher"),
    [
        (False, False, False),
        (True, True, True),
        ("student", True, False),
        ("teacher", False, True),
    ],
)
def test_compile_setting_names_what_is_compiled(
    tmp_path: Path, compile: bool | str, student: bool, teacher: bool
) -> None:
    engine = _grid_study(tmp_path, compile=compile).engine
    assert (engine.compile_student, engine.compile_teacher) == (student, teacher)


@pytest.mark.parametrize(("precision", "bf16"), [("auto", None), ("bf16", True), ("fp32", False)])
def test_precision_reaches_every_trial(tmp_path: Path, monkeypatch, precision, bf16) -> None:
    import autokd.study._objective as objective

    seen = []
    real = objective.train_recipe

    def spy(recipe, **kwargs):
        seen.append(kwargs["bf16"])
        return real(recipe, **kwargs)

    monkeypatch.setattr(objective, "train_recipe", spy)
    config = _grid_study(tmp_path, precision=precision)
    study = run_study(config, n_trials=2, progress=False)
    assert seen == [bf16, bf16]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_gate_admits_at_most_n_jobs_on_cpu() -> None:
    import threading
    import time

    gate = DeviceGate(2, torch.device("cpu"))
    running, most = [0], [0]
    lock = threading.Lock()

    def trial() -> None:
        with gate.admit():
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=trial) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 2


@pytest.mark.parametrize(
    ("engine", "key"),
    [
        ({"n_jobs": 0}, "engine.n_jobs"),
        ({"n_jobs": "many"}, "engine.n_jobs"),
        ({"teacher_cache": {"dtype": "int8"}}, "engine.teacher_cache.dtype"),
        ({"teacher_cache": {"memory_mb": -1}}, "engine.teacher_cache.memory_mb"),
        ({"teacher_cache": {"topk": 0}}, "engine.teacher_cache.topk"),
        ({"compile": "yes please"}, "engine.compile"),
        ({"cache": {}}, "engine.cache"),
        ({"precision": "fp16"}, "engine.precision"),
    ],
)
def test_bad_engine_settings_name_their_key(tmp_path: Path, engine: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        _grid_study(tmp_path, **engine)
    assert key in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_two_concurrent_compiled_trials_finish_like_eager_ones(
    sequential_uncached, tmp_path: Path
) -> None:
    # torch.compile from two trial threads at once: every trial completes, and compiled
    # kernels round like eager ones to within a validation image.
    config = _grid_study(tmp_path, compile="student", n_jobs=2)
    study = run_study(config, progress=False)
    assert {t.state for t in study.trials} == {optuna.trial.TrialState.COMPLETE}
    got = _values(study)
    assert got.keys() == sequential_uncached.keys()
    for params, value in got.items():
        assert value == pytest.approx(sequential_uncached[params], abs=1 / 288 + 1e-9)
