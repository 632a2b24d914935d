"""Constraints on the student: measured before training, violators pruned at once, recorded.

One digits study (6 trials; the student width is 0.25 or 0.5) runs with a max_params limit
between the two widths' parameter counts and a loose latency limit.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState
import pytest
import torch
import yaml

from autokd.cli import main
from autokd.config import StudyConfig
from autokd.config._study import Constraints
from autokd.exceptions import ConfigError
from autokd.models import build_model
from autokd.recipe import ModelSpec
from autokd.study._constraints import StudentCost
from autokd.study._constraints import check_constraints
from autokd.study._constraints import measure_student
from tests.conftest import write_study

DIGITS_SHAPE, DIGITS_CLASSES = (1, 8, 8), 10
MAX_LATENCY_MS = 10_000.0


def _params(width: float) -> int:
    """The CNN student's parameter count, counted here independently of autokd's measure."""
    model = build_model(
        ModelSpec(family="cnn", width=width, depth=1),
        in_channels=DIGITS_SHAPE[0],
        num_classes=DIGITS_CLASSES,
    )
    return sum(p.numel() for p in model.parameters())


def set_study_keys(study_file: Path, **keys: object) -> None:
    """Adds keys under ``study:`` in a study file written by ``write_study``."""
    data = yaml.safe_load(study_file.read_text())
    data["study"].update(keys)
    study_file.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict:
    small, large = _params(0.25), _params(0.5)
    assert small < large
    limit = (small + large) // 2
    folder = tmp_path_factory.mktemp("constrained")
    study_file = write_study(folder, n_trials=6)
    set_study_keys(study_file, constraints={"max_params": limit, "max_latency_ms": MAX_LATENCY_MS})
    assert main(["run", str(study_file), "--no-progress"]) == 0
    config = StudyConfig.from_yaml(study_file)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url())
    return {"study": study, "limit": limit, "large": large, "small": small, "file": study_file}


def test_no_complete_trial_breaks_the_limit(ran: dict) -> None:
    trials = ran["study"].get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete, "the study should hold some feasible, trained trial"
    for t in complete:
        params = _params(t.params["student.width"])
        assert params <= ran["limit"]
        assert t.user_attrs["student_params"] == params
        assert sorted(t.intermediate_values) == [0, 1, 2]


def test_violating_trials_are_pruned_before_training_with_the_reason(ran: dict) -> None:
    trials = ran["study"].get_trials()
    violating = [t for t in trials if _params(t.params["student.width"]) > ran["limit"]]
    assert violating, "the sampler should have tried the large student at least once"
    for t in violating:
        assert t.state == TrialState.PRUNED
        assert t.intermediate_values == {}  # not one epoch trained
        reason = f"student params {ran['large']:,} > max_params {ran['limit']:,}"
        assert t.user_attrs["pruned_reason"] == reason
        assert t.user_attrs["student_params"] == ran["large"]


def test_violating_trials_mlflow_runs_are_killed_with_the_reason(ran: dict) -> None:
    import mlflow

    study = ran["study"]
    client = mlflow.MlflowClient(tracking_uri=study.user_attrs["mlflow_tracking_uri"])
    for t in study.get_trials():
        if _params(t.params["student.width"]) > ran["limit"]:
            run = client.get_run(t.user_attrs["mlflow_run_id"])
            assert run.info.status == "KILLED"
            assert run.data.tags["autokd.fail_reason"] == t.user_attrs["pruned_reason"]
            assert run.data.metrics["student_params"] == ran["large"]


def test_constraint_values_follow_optunas_sign_convention(ran: dict) -> None:
    for t in ran["study"].get_trials():
        values = t.user_attrs["constraints"]
        assert len(values) == 2  # max_params, max_latency_ms
        # Optuna's own record, which the TPE, NSGA-II/III and GP samplers read
        assert t.constraints == pytest.approx(
            {"max_params": values[0], "max_latency_ms": values[1]}
        )
        params = t.user_attrs["student_params"]
        assert values[0] == pytest.approx(params / ran["limit"] - 1)
        assert (values[0] <= 0) == (params <= ran["limit"])
        assert values[1] <= 0  # the loose latency limit holds
        if any(v > 0 for v in values):
            assert t.state == TrialState.PRUNED


def test_latency_is_measured_and_recorded(ran: dict) -> None:
    for t in ran["study"].get_trials():
        latency = t.user_attrs["student_latency_ms"]
        assert 0 < latency < MAX_LATENCY_MS
        assert t.user_attrs["constraints"][1] == pytest.approx(latency / MAX_LATENCY_MS - 1)
        assert t.user_attrs["student_macs"] > 0


def test_check_constraints_signs_and_messages() -> None:
    limits = Constraints(max_params=1000, max_macs=10_000)
    values, messages = check_constraints(StudentCost(params=1500, macs=5000), limits)
    assert values == pytest.approx([0.5, -0.5])
    assert messages == ["student params 1,500 > max_params 1,000"]
    values, messages = check_constraints(StudentCost(params=1000, macs=10_000), limits)
    assert values == pytest.approx([0.0, 0.0])  # at the limit is feasible
    assert messages == []
    values, messages = check_constraints(
        StudentCost(params=1, macs=1, latency_ms=3.0), Constraints(max_latency_ms=2.0)
    )
    assert values == pytest.approx([0.5])
    assert messages == ["student latency_ms 3.000 > max_latency_ms 2.000"]


def test_measuring_does_not_move_the_rng() -> None:
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    cost = measure_student(
        ModelSpec(family="cnn", width=0.25, depth=1),
        DIGITS_SHAPE,
        DIGITS_CLASSES,
        device=torch.device("cpu"),
        latency_batch=2,
    )
    assert torch.equal(torch.rand(4), expected)
    assert cost.params == _params(0.25)
    assert cost.latency_ms is not None and cost.latency_ms > 0


@pytest.mark.parametrize(
    ("constraints", "key"),
    [
        ({"max_params": 0}, "study.constraints.max_params"),
        ({"max_params": -5}, "study.constraints.max_params"),
        ({"max_macs": 1.5}, "study.constraints.max_macs"),
        ({"max_latency_ms": 0}, "study.constraints.max_latency_ms"),
        ({"latency_batch": 0}, "study.constraints.latency_batch"),
        ({"max_param": 10}, "study.constraints.max_param"),
    ],
)
def test_bad_constraints_name_the_key(tmp_path: Path, constraints: dict, key: str) -> None:
    study_file = write_study(tmp_path)
    set_study_keys(study_file, constraints=constraints)
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(study_file)
    assert info.value.key == key
