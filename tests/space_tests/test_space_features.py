"""Projector search, per-loss weight schedules and a student-family choice, end to end."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState
import pytest

from autokd.cli import main
from autokd.config import StudyConfig
from autokd.exceptions import ConfigError
from autokd.recipe import DataSpec
from autokd.recipe import TeacherSpec
from autokd.space import SearchSpace
from autokd.study import check_study
from autokd.study._recipes import PLACEHOLDER_SHA
from autokd.study._recipes import recipe_from_trial
from tests.conftest import REPO
from tests.conftest import write_study

TEACHER = TeacherSpec(model={"family": "cnn"}, checkpoint="x", sha256=PLACEHOLDER_SHA)


def _recipes(space: SearchSpace, n: int = 20) -> list:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(recipe_from_trial(space, trial, data=DataSpec(), teacher=TEACHER))
        replayed = recipe_from_trial(
            space, optuna.trial.FixedTrial(trial.params), data=DataSpec(), teacher=TEACHER
        )
        assert replayed == out[-1]
        study.tell(trial, 0.0)
    return out


# --- projectors ----------------------------------------------------------------------------
def test_a_projector_categorical_samples_valid_recipes() -> None:
    space = SearchSpace(
        {
            "distill": {
                "terms": {
                    "fitnets": {
                        "pair": "stages.1 -> stages.1",
                        "projector": {"type": "categorical", "choices": ["conv1x1", "mlp"]},
                    }
                }
            }
        }
    )
    seen = {r.distill.terms["fitnets"].projector for r in _recipes(space)}
    assert seen == {"conv1x1", "mlp"}


def test_projector_auto_is_a_categorical_over_the_losses_projectors() -> None:
    from autokd.losses import LOSSES

    space = SearchSpace(
        {"distill": {"terms": {"fitnets": {"search": "optional", "projector": "auto"}}}}
    )
    dist = space.distributions["distill.terms.fitnets.projector"]
    assert dist.choices == LOSSES.get("fitnets").projectors
    assert [p for _, p, _ in space.auto_projectors] == ["distill.terms.fitnets.projector"]
    # Narrowed to those that bridge the proposed pairs; one left is a fixed value.
    space.resolve_auto_pairs(
        {"distill.terms.fitnets.pair": ["stages.1 -> stages.1"]},
        {"distill.terms.fitnets.projector": ["conv1x1", "mlp"]},
    )
    assert space.distributions["distill.terms.fitnets.projector"].choices == ("conv1x1", "mlp")
    one = SearchSpace({"distill": {"terms": {"vid": {"search": "always", "projector": "auto"}}}})
    one.resolve_auto_pairs(
        {"distill.terms.vid.pair": ["pool -> pool"]}, {"distill.terms.vid.projector": ["mlp"]}
    )
    assert "distill.terms.vid.projector" not in one.distributions
    nested = one.sample(
        optuna.trial.FixedTrial({"distill.terms.vid.pair": "pool -> pool"} | _weights(one))
    )
    assert nested["distill"]["terms"]["vid"]["projector"] == "mlp"


def _weights(space: SearchSpace) -> dict:
    return {n: d.low for n, d in space.distributions.items() if not hasattr(d, "choices")}


@pytest.mark.parametrize(("loss", "expected"), [("at", None), ("adversarial", "linear")])
def test_projector_auto_with_none_or_one_declared_stays_fixed(loss: str, expected) -> None:
    space = SearchSpace({"distill": {"terms": {loss: {"search": "always", "projector": "auto"}}}})
    assert f"distill.terms.{loss}.projector" not in space.distributions
    assert space._tree["distill"]["terms"][loss].get("projector") == expected


def test_check_study_narrows_auto_projectors_to_the_pairs_shapes(tmp_path: Path) -> None:
    study = write_study(
        tmp_path,
        space="""\
        distill:
          terms:
            fitnets: {search: optional, projector: auto}
        """,
    )
    space = check_study(StudyConfig.from_yaml(study))
    # linear takes (D,) vectors only; the proposed pairs are (C, H, W) maps.
    projectors = space.distributions["distill.terms.fitnets.projector"].choices
    assert "linear" not in projectors and "conv1x1" in projectors
    pairs = space.distributions["distill.terms.fitnets.pair"].choices
    assert "stages.1 -> stages.1" in pairs


# --- weight schedules ----------------------------------------------------------------------
WEIGHT_SCHEDULE = {
    "schedule": {
        "type": "categorical",
        "choices": {
            "constant": {"value": {"type": "float", "low": 0.5, "high": 2.0}},
            "linear": {
                "start": {"type": "float", "low": 0.0, "high": 0.5},
                "end": {"type": "float", "low": 1.0, "high": 4.0},
            },
        },
    }
}


@pytest.mark.parametrize(
    "term", [{"weight": WEIGHT_SCHEDULE}, {"search": "optional", "weight": WEIGHT_SCHEDULE}]
)
def test_a_term_weight_schedule_samples_and_validates(term: dict) -> None:
    space = SearchSpace({"distill": {"alpha": 0.5, "terms": {"kd": term}}})
    assert {"distill.terms.kd.weight.schedule", "distill.terms.kd.weight.start"} <= set(
        space.param_names
    )
    kinds = set()
    for recipe in _recipes(space, 30):
        term_spec = recipe.distill.terms["kd"]
        if not term_spec.enabled:
            continue
        kinds.add(term_spec.weight.schedule)
        low, high = term_spec.weight.bounds()
        assert 0.0 <= low <= high <= 4.0
    assert kinds == {"constant", "linear"}


def test_a_negative_weight_schedule_is_rejected() -> None:
    bad = {"schedule": "linear", "start": {"type": "float", "low": -1.0, "high": 0.0}, "end": 1.0}
    space = SearchSpace({"distill": {"terms": {"kd": {"weight": bad}}}}, file="s.yaml")
    with pytest.raises(ConfigError) as info:
        recipe_from_trial(
            space,
            optuna.trial.FixedTrial({"distill.terms.kd.weight.start": -1.0}),
            data=DataSpec(),
            teacher=TEACHER,
        )
    assert info.value.key == "distill.terms.kd.weight" and info.value.file == "s.yaml"


# --- student family choice -----------------------------------------------------------------
FAMILY = {
    "family": {
        "type": "categorical",
        "choices": {
            "cnn": {
                "width": {"type": "float", "low": 0.25, "high": 0.5, "step": 0.25},
                "depth": {"type": "int", "low": 1, "high": 2},
            },
            "resnet": {
                "width": {"type": "float", "low": 0.25, "high": 0.5, "step": 0.25},
                "depth": {"type": "categorical", "choices": [8, 14]},
            },
        },
    }
}


def test_family_choice_shares_equal_params_and_names_differing_ones() -> None:
    space = SearchSpace({"student": FAMILY})
    # Same range under both choices: one parameter. Optuna keeps one distribution per name,
    # so resnet's categorical depth gets its own name.
    assert set(space.param_names) == {
        "student.family",
        "student.width",
        "student.depth",
        "student.depth:resnet",
    }
    seen = set()
    for recipe in _recipes(space, 30):
        seen.add((recipe.student.family, recipe.student.depth))
        if recipe.student.family == "resnet":
            assert recipe.student.depth in (8, 14)
        else:
            assert recipe.student.depth in (1, 2)
    assert {f for f, _ in seen} == {"cnn", "resnet"}


def test_family_choice_runs_under_tpe_without_distribution_clashes() -> None:
    space = SearchSpace({"student": FAMILY})
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=3))
    for _ in range(12):  # raises if one name ever got two kinds of distribution
        trial = study.ask()
        nested = space.sample(trial)
        study.tell(trial, float(nested["student"]["depth"]))


def test_auto_pairs_are_kept_only_if_valid_for_every_family(tmp_path: Path) -> None:
    import yaml

    space = {"student": FAMILY, "distill": {"terms": {"at": {"search": "always"}}}}
    study = write_study(tmp_path, space=yaml.safe_dump(space))
    checked = check_study(StudyConfig.from_yaml(study))
    pairs = checked.distributions["distill.terms.at.pair"].choices
    # cnn and resnet name their taps alike (stem, stages.N, pool), so stage pairs survive.
    assert "stages.1 -> stages.1" in pairs and "stages.2 -> stages.2" in pairs


# --- all of it, trained ----------------------------------------------------------------------
def test_features_together_run_a_study(tmp_path: Path) -> None:
    import yaml

    space = {
        "student": FAMILY,
        "optim": {"epochs": 1, "batch_size": 128},
        "distill": {
            "alpha": 0.5,
            "choose": {"k": 1, "from": ["kd", "dkd"]},
            "terms": {
                "kd": {"search": "optional", "weight": WEIGHT_SCHEDULE},
                "dkd": {"search": "optional"},
                "fitnets": {"search": "always", "projector": "auto", "weight": WEIGHT_SCHEDULE},
            },
        },
    }
    study_file = write_study(tmp_path, n_trials=2, space=yaml.safe_dump(space))
    text = study_file.read_text().replace("epochs: 4", "epochs: 1")
    study_file.write_text(
        text.replace("data: {name: digits}", "data: {name: digits, train_size: 200}")
    )
    assert main(["run", str(study_file), "--no-progress"]) == 0
    config = StudyConfig.from_yaml(study_file)
    trials = optuna.load_study(study_name="tiny", storage=config.storage_url()).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for t in trials:
        assert t.params["distill.choose"] in ("kd", "dkd")
        assert "distill.terms.fitnets.projector" in t.params


def test_the_full_digits_example_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(REPO / "studies" / "digits_full.yaml")]) == 0
    space = check_study(StudyConfig.from_yaml(REPO / "studies" / "digits_full.yaml"))
    names = set(space.param_names)
    assert {"distill.choose", "optim.weight_decay", "augment.cutout", "student.depth"} <= names
    assert "distill.terms.fitnets.weight.schedule" in names
    assert sum(n.endswith(".enabled") for n in names) >= 8
    assert sum(n.endswith(".projector") for n in names) >= 2
