"""Samplers and pruners by name: cmaes, nsgaiii, grid, wilcoxon and patient, and their errors."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from autokd._config import parse_model
from autokd.cli import main
from autokd.config import PrunerSpec
from autokd.config import SamplerSpec
from autokd.config import StudyConfig
from autokd.exceptions import ConfigError
from autokd.space import SearchSpace
from autokd.study._factories import build_pruner
from autokd.study._factories import build_sampler
from tests.conftest import TINY_SPACE
from tests.conftest import write_study

# 11 x 10 = 110 grid points: enough that two seeds visit them in different orders.
SMALL_SPACE = {
    "optim": {
        "lr": {"type": "float", "low": 0.0, "high": 1.0, "step": 0.1},
        "epochs": {"type": "int", "low": 1, "high": 10},
    }
}

# A 2 x 2 grid on digits (a categorical and a stepped float); everything else fixed.
GRID_SPACE = """\
seed: 0
student:
  family: cnn
  width: {type: categorical, choices: [0.25, 0.5]}
  depth: 1
optim:
  lr: {type: float, low: 0.05, high: 0.1, step: 0.05}
  epochs: 1
  batch_size: 128
distill:
  temperature: 4.0
  alpha: 0.5
  terms:
    kd: {weight: 1.0}
"""

TPE_LINE = "sampler: {name: tpe, seed: 0, params: {n_startup_trials: 3}}"
MEDIAN_LINE = "pruner: {name: median, params: {n_startup_trials: 2, n_warmup_steps: 0}}"


def _edit(study: Path, old: str, new: str) -> None:
    text = study.read_text()
    assert old in text
    study.write_text(text.replace(old, new))


def _draws(sampler: optuna.samplers.BaseSampler, n: int = 6) -> list[dict]:
    """The params of ``n`` trials sampled from SMALL_SPACE (told a simple objective)."""
    space = SearchSpace(SMALL_SPACE)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    out = []
    for _ in range(n):
        trial = study.ask()
        optim = space.sample(trial)["optim"]
        study.tell(trial, optim["lr"] + optim["epochs"] / 10)
        out.append(dict(trial.params))
    return out


# --- samplers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("cmaes", optuna.samplers.CmaEsSampler),
        ("nsgaiii", optuna.samplers.NSGAIIISampler),
        ("grid", optuna.samplers.GridSampler),
    ],
)
def test_new_samplers_build_their_class_with_the_seed(name: str, cls: type) -> None:
    # Rule: each name builds its Optuna class, and the spec's seed reaches it: the same seed
    # draws the same params, another seed different ones.
    space = SearchSpace(SMALL_SPACE)
    params = {"n_startup_trials": 2} if name == "cmaes" else {}
    params = {"population_size": 4} if name == "nsgaiii" else params

    def sampler(seed: int) -> optuna.samplers.BaseSampler:
        return build_sampler(SamplerSpec(name=name, seed=seed, params=params), space=space)

    assert type(sampler(0)) is cls
    first = _draws(sampler(0))
    assert first == _draws(sampler(0))
    assert first != _draws(sampler(1))


def test_sampler_params_are_passed_and_checked() -> None:
    # Rule: params go to the constructor; an unknown one names its key.
    sampler = build_sampler(SamplerSpec(name="cmaes", params={"n_startup_trials": 7}))
    assert sampler._n_startup_trials == 7  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as info:
        parse_model(SamplerSpec, {"name": "nsgaiii", "params": {"populaton_size": 4}}, file="")
    assert info.value.key == "params.populaton_size" and "population_size" in info.value.hint


def test_cmaes_package_is_importable() -> None:
    # Rule: the cmaes dependency is installed (CmaEsSampler imports it lazily, on first use).
    import cmaes

    assert cmaes.CMA is not None


def test_grid_is_the_space_grid() -> None:
    # Rule: grid's search space is SearchSpace.grid_values(), visited once each.
    # Optuna's GridSampler stops the study once every point is visited.
    space = SearchSpace(SMALL_SPACE)
    sampler = build_sampler(SamplerSpec(name="grid", seed=0), space=space)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda trial: space.sample(trial)["optim"]["lr"], n_trials=200)
    points = [(t.params["optim.lr"], t.params["optim.epochs"]) for t in study.trials]
    assert len(points) == 110
    assert set(points) == {(lr / 10, epochs) for lr in range(11) for epochs in range(1, 11)}


def test_grid_without_a_space_validates_but_cannot_sample() -> None:
    # Rule: a study file's grid sampler loads (its space comes later); used unbound, it fails.
    sampler = build_sampler(SamplerSpec(name="grid"))
    study = optuna.create_study(sampler=sampler)
    with pytest.raises(ConfigError, match="search space"):
        study.ask().suggest_float("x", 0.0, 1.0)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"search_space": {"optim.lr": [0.1, 0.2]}}, "study.sampler.params.search_space"),
        ({"shuffle": True}, "study.sampler.params.shuffle"),
    ],
)
def test_grid_refuses_params(tmp_path: Path, params: dict, key: str) -> None:
    # Rule: the grid comes from the search-space file; a user-given one is refused at load.
    study = write_study(tmp_path, space=GRID_SPACE)
    _edit(study, TPE_LINE, f"sampler: {{name: grid, params: {params}}}")
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(study)
    assert info.value.key == key and info.value.file == str(study)


# --- SearchSpace.grid_values ---------------------------------------------------------------
def test_grid_values_per_kind() -> None:
    # Rule: categorical -> choices; int -> low..high by step; stepped float -> low, low+step...
    space = SearchSpace(
        {
            "student": {"width": {"type": "categorical", "choices": [0.5, 1.0, 2.0]}},
            "optim": {
                "lr": {"type": "float", "low": 0.1, "high": 0.55, "step": 0.15},
                "epochs": {"type": "int", "low": 2, "high": 8, "step": 3},
                "batch_size": {"type": "int", "low": 32, "high": 34},
            },
        }
    )
    assert space.grid_values() == {
        "student.width": [0.5, 1.0, 2.0],
        "optim.lr": [0.1, 0.25, 0.4, 0.55],
        "optim.epochs": [2, 5, 8],
        "optim.batch_size": [32, 33, 34],
    }


def test_grid_values_include_conditional_params() -> None:
    # Rule: fields under a choice are grid parameters too.
    space = SearchSpace(
        {
            "distill": {
                "alpha": {
                    "schedule": {
                        "type": "categorical",
                        "choices": {
                            "constant": {"value": {"type": "categorical", "choices": [0.5]}},
                            "step": {
                                "at": {"type": "float", "low": 0.25, "high": 0.5, "step": 0.25}
                            },
                        },
                    }
                }
            }
        }
    )
    grid = space.grid_values()
    assert grid == {
        "distill.alpha.schedule": ["constant", "step"],
        "distill.alpha.value": [0.5],
        "distill.alpha.at": [0.25, 0.5],
    }


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"type": "float", "low": 0.1, "high": 0.9}, "a step"),
        ({"type": "float", "low": 0.01, "high": 0.9, "log": True}, "a step"),
        ({"type": "int", "low": 0, "high": 200_000}, "at most 100,000 points"),
        ({"type": "float", "low": 0.0, "high": 1.0, "step": 1e-6}, "at most 100,000 points"),
    ],
)
def test_grid_values_refuse_infinite_or_huge(node: dict, expected: str) -> None:
    # Rule: an unstepped float or a grid past 100,000 points names the file and the key.
    space = SearchSpace({"optim": {"lr": node}}, file="space.yaml")
    with pytest.raises(ConfigError) as info:
        space.grid_values()
    assert info.value.key == "optim.lr" and info.value.file == "space.yaml"
    assert expected in info.value.expected


def test_grid_size_limit_counts_the_product() -> None:
    # Rule: the limit is on the product; the key is the parameter at which it is passed.
    dist = {"type": "int", "low": 1, "high": 400}
    space = SearchSpace({"optim": {"epochs": dist, "batch_size": dist}})
    assert len(space.grid_values(max_points=160_000)["optim.batch_size"]) == 400
    with pytest.raises(ConfigError) as info:
        space.grid_values()
    assert info.value.key == "optim.batch_size" and "160,000" in info.value.got


# --- grid studies through the CLI ----------------------------------------------------------
def test_validate_refuses_grid_over_unstepped_float(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rule: `autokd validate` fails (exit 2, one line naming file and key) on a grid study
    # whose space has a float range without step; the same space validates under tpe.
    study = write_study(tmp_path, space=TINY_SPACE)
    assert main(["validate", str(study)]) == 0
    capsys.readouterr()
    _edit(study, TPE_LINE, "sampler: {name: grid, seed: 0}")
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "space.yaml" in err and "optim.lr: expected a step" in err


@pytest.mark.slow  # a real study (teacher, MLflow, 4 trials): about a minute on 2 busy cores
def test_grid_study_visits_every_point_once(tmp_path: Path) -> None:
    # Rule: a grid study over a 2 x 2 space with n_trials 4 runs each combination once.
    study_file = write_study(tmp_path, n_trials=4, space=GRID_SPACE)
    _edit(study_file, TPE_LINE, "sampler: {name: grid, seed: 0}")
    _edit(study_file, MEDIAN_LINE, "pruner: {name: nop, params: {}}")
    _edit(study_file, "epochs: 4", "epochs: 1")  # the teacher's: any teacher will do here
    assert main(["validate", str(study_file)]) == 0
    assert main(["run", str(study_file), "--no-progress"]) == 0
    config = StudyConfig.from_yaml(study_file)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url())
    trials = study.get_trials()
    points = sorted((t.params["student.width"], t.params["optim.lr"]) for t in trials)
    assert points == [(0.25, 0.05), (0.25, 0.1), (0.5, 0.05), (0.5, 0.1)]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


# --- pruners -------------------------------------------------------------------------------
def test_wilcoxon_builds_with_params() -> None:
    pruner = build_pruner(
        PrunerSpec(name="wilcoxon", params={"p_threshold": 0.05, "n_startup_steps": 3})
    )
    assert type(pruner) is optuna.pruners.WilcoxonPruner
    assert pruner._p_threshold == 0.05 and pruner._n_startup_steps == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"p_threshold": 1.5}, "params.p_threshold"),
        ({"n_startup_steps": -1}, "params.n_startup_steps"),
        ({"p_treshold": 0.1}, "params.p_treshold"),
        ({"p_threshold": "low"}, "params"),  # Optuna's TypeError names no parameter
    ],
)
def test_wilcoxon_params_are_validated(params: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_model(PrunerSpec, {"name": "wilcoxon", "params": params}, file="")
    assert info.value.key == key


def _prune_steps(pruner: optuna.pruners.BasePruner, runs: list[list[float]]) -> list[int]:
    """Completes ``runs[:-1]`` and returns the steps at which the last run should prune."""
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for values in runs[:-1]:
        trial = study.ask()
        for step, value in enumerate(values):
            trial.report(value, step)
        study.tell(trial, values[-1])
    trial = study.ask()
    pruned = []
    for step, value in enumerate(runs[-1]):
        trial.report(value, step)
        if trial.should_prune():
            pruned.append(step)
    return pruned


MEDIAN = {"name": "median", "params": {"n_startup_trials": 1, "n_warmup_steps": 0}}
GOOD = [1.0, 1.0, 1.0, 1.0, 1.0]
STALLED = [0.5, 0.4, 0.3, 0.2, 0.1]  # below the median and worse every step
IMPROVING = [0.1, 0.2, 0.3, 0.4, 0.5]  # below the median but better every step
HIGH_FALLING = [2.0, 1.9, 1.8, 1.7, 1.6]  # above the median, worse every step


def test_patient_wraps_median() -> None:
    # Rule: patient builds the wrapped pruner through the registry, with its params.
    spec = PrunerSpec(name="patient", params={"wrapped": MEDIAN, "patience": 2, "min_delta": 0.1})
    pruner = build_pruner(spec)
    assert type(pruner) is optuna.pruners.PatientPruner
    assert pruner._patience == 2 and pruner._min_delta == 0.1  # type: ignore[attr-defined]
    wrapped = pruner._wrapped_pruner  # type: ignore[attr-defined]
    assert type(wrapped) is optuna.pruners.MedianPruner and wrapped._n_startup_trials == 1


@pytest.mark.parametrize(
    ("params", "run", "steps"),
    [
        # Median alone prunes a below-median trial at once, improving or not.
        (None, STALLED, [0, 1, 2, 3, 4]),
        (None, IMPROVING, [0, 1, 2, 3, 4]),
        # Patience 2: only once the last 3 steps are all worse than the best before them
        # (so from step 3 on), and then only if the median agrees.
        ({"wrapped": MEDIAN, "patience": 2}, STALLED, [3, 4]),
        ({"wrapped": MEDIAN, "patience": 3}, STALLED, [4]),
        ({"wrapped": MEDIAN, "patience": 2}, IMPROVING, []),
        ({"wrapped": MEDIAN, "patience": 2}, HIGH_FALLING, []),
        # min_delta 0.15 forgives drops up to 0.15: at step 3 the drop is 0.1, at step 4 0.2.
        ({"wrapped": MEDIAN, "patience": 2, "min_delta": 0.15}, STALLED, [4]),
        # Without a wrapped pruner, patience alone decides: the above-median run goes too.
        ({"wrapped": None, "patience": 2}, HIGH_FALLING, [3, 4]),
    ],
)
def test_patient_prune_decisions(params: dict | None, run: list[float], steps: list[int]) -> None:
    spec = (
        PrunerSpec(name=MEDIAN["name"], params=MEDIAN["params"])
        if params is None
        else PrunerSpec(name="patient", params=params)
    )
    assert _prune_steps(build_pruner(spec), [GOOD, run]) == steps


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"wrapped": {"name": "meadian"}, "patience": 2}, "params.wrapped.name"),
        (
            {"wrapped": {"name": "median", "params": {"n_startup_trails": 1}}, "patience": 2},
            "params.wrapped.params.n_startup_trails",
        ),
        (
            {"wrapped": {"name": "percentile", "params": {"percentile": 150.0}}, "patience": 2},
            "params.wrapped.params.percentile",
        ),
        ({"wrapped": {"name": "median", "param": {}}, "patience": 2}, "params.wrapped.param"),
        ({"wrapped": {"params": {}}, "patience": 2}, "params.wrapped.name"),
        ({"wrapped": "median", "patience": 2}, "params.wrapped"),
        ({"wrapped": None}, "params.patience"),
        ({"wrapped": None, "patience": -1}, "params.patience"),
        ({"wrapped": None, "patience": 1.5}, "params.patience"),
        ({"wrapped": None, "patience": 2, "min_delta": -0.1}, "params.min_delta"),
        ({"wrapped": None, "patiance": 2}, "params.patiance"),
    ],
)
def test_patient_errors_name_the_key(params: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_model(PrunerSpec, {"name": "patient", "params": params}, file="")
    assert info.value.key == key


def test_patient_error_in_a_study_file(tmp_path: Path) -> None:
    # Rule: the key path runs from the study file's top through the wrapped pruner.
    study = write_study(tmp_path, space=GRID_SPACE)
    new = "pruner: {name: patient, params: {wrapped: {name: meadian}, patience: 2}}"
    _edit(study, MEDIAN_LINE, new)
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(study)
    assert info.value.key == "study.pruner.params.wrapped.name"
    assert "median" in info.value.hint and info.value.file == str(study)


def test_new_names_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "samplers"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name}" in out for name in ("cmaes", "nsgaiii", "grid"))
    assert main(["list", "pruners"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name}" in out for name in ("wilcoxon", "patient"))


def test_study_file_with_new_names_loads(tmp_path: Path) -> None:
    study = write_study(tmp_path, space=GRID_SPACE)
    _edit(study, TPE_LINE, "sampler: {name: cmaes, seed: 3, params: {n_startup_trials: 2}}")
    _edit(study, MEDIAN_LINE, "pruner: {name: wilcoxon, params: {p_threshold: 0.2}}")
    config = StudyConfig.from_yaml(study)
    assert type(build_sampler(config.study.sampler)) is optuna.samplers.CmaEsSampler
    assert type(build_pruner(config.study.pruner)) is optuna.pruners.WilcoxonPruner
