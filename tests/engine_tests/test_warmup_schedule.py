"""The warmup schedule: linear from ``start`` to ``value`` over the first ``warmup``, then flat."""

from __future__ import annotations

import optuna
import pytest

from autokd.engine._schedules import SCHEDULES
from autokd.engine._schedules import WarmupSchedule
from autokd.engine._schedules import build_schedule
from autokd.engine._schedules import schedule_params
from autokd.exceptions import ConfigError
from autokd.recipe import ScheduleSpec
from autokd.space import SearchSpace


def _formula(value: float, start: float, warmup: float, p: float) -> float:
    return start + (value - start) * p / warmup if p < warmup else value


@pytest.mark.parametrize(
    ("params", "value", "start", "warmup"),
    [
        ({"value": 0.9}, 0.9, 0.0, 0.1),  # the defaults: from 0 over the first 10%
        ({"value": 0.8, "start": 0.2, "warmup": 0.4}, 0.8, 0.2, 0.4),
        ({"value": 2.0, "start": 8.0, "warmup": 0.5}, 2.0, 8.0, 0.5),  # a warm-down works too
        ({"value": 4, "start": 1, "warmup": 1}, 4.0, 1.0, 1.0),  # the ramp takes all training
    ],
)
def test_values_follow_the_formula(
    params: dict, value: float, start: float, warmup: float
) -> None:
    # Rule: start at p = 0, halfway at warmup / 2, value from warmup on.
    fn = build_schedule({"schedule": "warmup", **params})
    assert isinstance(fn, WarmupSchedule)
    points = (0.0, warmup / 2, warmup, 1.0)
    expected = [_formula(value, start, warmup, p) for p in points]
    assert [fn(p) for p in points] == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx([start, (start + value) / 2, value, value])
    assert all(isinstance(fn(p), float) for p in points)


def test_hand_computed_values_and_clamping() -> None:
    fn = build_schedule({"schedule": "warmup", "value": 1.0, "start": 0.5, "warmup": 0.25})
    assert fn(0.05) == pytest.approx(0.6)  # 0.5 + 0.5 * 0.05 / 0.25
    assert fn(0.2) == pytest.approx(0.9)
    assert fn(0.6) == 1.0
    assert fn(-1.0) == fn(0.0) == 0.5 and fn(2.0) == fn(1.0) == 1.0


def test_registered_with_its_params() -> None:
    assert "warmup" in SCHEDULES.list()
    assert schedule_params("warmup") == ("value", "start", "warmup")


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({}, "value"),  # value is required
        ({"value": 1.0, "warmup": 0.0}, "warmup"),
        ({"value": 1.0, "warmup": -0.1}, "warmup"),
        ({"value": 1.0, "warmup": 1.5}, "warmup"),
        ({"value": 1.0, "warmup": True}, "warmup"),
        ({"value": "high"}, "value"),
        ({"value": 1.0, "start": float("nan")}, "start"),
        ({"value": 1.0, "warmpu": 0.2}, "warmpu"),
    ],
)
def test_bad_params_name_the_key(params: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_schedule({"schedule": "warmup", **params})
    assert info.value.key == key


def test_unknown_param_suggests_warmup() -> None:
    with pytest.raises(ConfigError) as info:
        build_schedule({"schedule": "warmup", "value": 1.0, "warmpu": 0.2})
    assert "warmup" in info.value.hint


def test_recipe_schedule_spec_accepts_warmup() -> None:
    # Rule: a recipe's ScheduleSpec takes the new name; its bounds are start and value.
    spec = ScheduleSpec(schedule="warmup", value=0.9, start=0.1, warmup=0.2)
    assert spec.params == {"value": 0.9, "start": 0.1, "warmup": 0.2}
    assert spec.build()(0.1) == pytest.approx(0.5)
    assert spec.bounds() == (0.1, 0.9)


def test_search_space_can_sample_warmup() -> None:
    # Rule: a space can choose warmup and search its parameters like any schedule's.
    space = SearchSpace(
        {
            "distill": {
                "alpha": {
                    "schedule": {
                        "type": "categorical",
                        "choices": {
                            "constant": {"value": 0.5},
                            "warmup": {
                                "value": {"type": "float", "low": 0.5, "high": 0.9},
                                "warmup": {"type": "float", "low": 0.05, "high": 0.3},
                            },
                        },
                    }
                }
            }
        }
    )
    params = {
        "distill.alpha.schedule": "warmup",
        "distill.alpha.value": 0.7,
        "distill.alpha.warmup": 0.2,
    }
    alpha = space.sample(optuna.trial.FixedTrial(params))["distill"]["alpha"]
    fn = ScheduleSpec(**alpha).build()
    assert fn(0.0) == 0.0 and fn(0.1) == pytest.approx(0.35) and fn(0.5) == 0.7
