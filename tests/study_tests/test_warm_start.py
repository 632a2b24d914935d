"""Warm starts: literature recipes, recipe files and studies become this space's first trials."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from autokd.cli import main
from autokd.config import StudyConfig
from autokd.exceptions import ConfigError
from autokd.recipe import Recipe
from autokd.study import run_study
from autokd.study._check import check_study
from autokd.study._warm import LITERATURE
from autokd.study._warm import warm_start_params
from tests.conftest import TINY_SPACE
from tests.conftest import write_study

OPTIONAL_SPACE = """\
seed: 0
student: {family: cnn, width: 0.25, depth: 1}
optim: {lr: {type: float, low: 0.03, high: 0.2, log: true}, epochs: 3, batch_size: 128}
distill:
  temperature: {schedule: constant, value: {type: float, low: 1.0, high: 8.0}}
  alpha: {schedule: constant, value: {type: float, low: 0.1, high: 0.95}}
  terms:
    kd: {search: optional}
    dkd: {search: optional}
    at:
      search: optional
      pair: {type: categorical, choices: ["stages.1 -> stages.1", "stages.2 -> stages.2"]}
"""


def _study(folder: Path, warm: list[str], *, space: str = OPTIONAL_SPACE, n: int = 3) -> Path:
    path = write_study(folder, n_trials=n, space=space)
    with path.open("a") as f:
        f.write(f"warm_start: {warm}\n")
    return path


def _params(folder: Path, warm: list[str]) -> dict[str, dict]:
    config = StudyConfig.from_yaml(_study(folder, warm))
    return dict(warm_start_params(config, check_study(config)))


def test_literature_values_become_params(tmp_path: Path) -> None:
    # Rule: kd and at give the papers' values, and switch the other optional terms off.
    got = _params(tmp_path, ["kd", "at"])
    assert got["kd"] == {
        "distill.temperature.value": 4.0,
        "distill.alpha.value": 0.9,
        "distill.terms.kd.enabled": True,
        "distill.terms.kd.weight": 1.0,
        "distill.terms.dkd.enabled": False,
        "distill.terms.at.enabled": False,
    }
    at = got["at"]
    assert at["distill.terms.at.weight"] == 500.0
    assert at["distill.terms.at.params.p"] == 2.0
    assert at["distill.terms.at.pair"] == "stages.1 -> stages.1"  # pair: auto -> first choice
    assert "optim.lr" not in at  # left to the sampler


def test_a_paper_form_the_space_lacks_is_a_config_error(tmp_path: Path) -> None:
    # Rule: DKD as its paper trains it (alpha 1 with its own CE weight, warm-up) is refused by a
    # space whose alpha stops at 0.95, rather than silently warm-starting something else.
    with pytest.raises(ConfigError) as info:
        _params(tmp_path, ["kd", "dkd"])
    assert info.value.key == "warm_start.1"
    assert "distill.alpha.value is 1.0, outside 0.1..0.95" in info.value.got


def test_an_entry_the_space_lacks_is_a_config_error(tmp_path: Path) -> None:
    # Rule: a loss the space does not have is an error keyed warm_start.<i>, naming it.
    with pytest.raises(ConfigError) as info:
        _params(tmp_path, ["kd", "crd"])
    err = info.value
    assert err.key == "warm_start.1"
    assert err.file == str(tmp_path / "study.yaml")
    assert "crd" in err.got and "distill.terms.crd is not in" in err.got


def test_a_value_outside_a_range_is_a_config_error(tmp_path: Path) -> None:
    # Rule: a recipe file whose temperature lies outside the space's range cannot be expressed.
    (tmp_path / "hot.yaml").write_text("distill: {temperature: 20, alpha: 0.9, terms: {kd: {}}}\n")
    with pytest.raises(ConfigError) as info:
        _params(tmp_path, ["hot.yaml"])
    assert info.value.key == "warm_start.0"
    assert "distill.temperature.value is 20.0, outside 1.0..8.0" in info.value.got


def test_a_fixed_field_with_another_value_is_a_config_error(tmp_path: Path) -> None:
    # Rule: fixed fields of the space must hold the entry's values (TINY_SPACE: 3 epochs, kd on).
    config = StudyConfig.from_yaml(_study(tmp_path, ["kd"], space=TINY_SPACE))
    space = check_study(config)
    cases = {
        "long.yaml": ("optim: {epochs: 10}\ndistill: {terms: {kd: {}}}\n", "optim.epochs is 3 in"),
        "no_kd.yaml": (
            "distill: {terms: {at: {weight: 50, pair: stages.1 -> stages.1}}}\n",
            "distill.terms.kd is always on in",
        ),
    }
    for name, (text, reason) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigError) as info:
            warm_start_params(config.model_copy(update={"warm_start": [name]}), space)
        assert info.value.key == "warm_start.0"
        assert reason in info.value.got


def test_validate_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Rule: `autokd validate` reports an unexpressible warm start as bad input, in one line.
    study = _study(tmp_path, ["kd", "crd"])
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "warm_start.1: expected a recipe this search space can express" in err
    (tmp_path / "study.yaml").write_text(study.read_text().replace("crd", "nosuch"))
    assert main(["validate", str(study)]) == 2  # an unknown name: the same one-line error
    assert "warm_start.1: expected a literature recipe name" in capsys.readouterr().err


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("warm")
    recipe = {
        "distill": {
            "temperature": 3.0,
            "alpha": {"schedule": "linear", "start": 0.1, "end": 0.6},
            "terms": {"kd": {"weight": 1.0}, "at": {"weight": 50.0, "pair": "stages.2->stages.2"}},
        }
    }
    (folder / "mine.yaml").write_text(yaml.safe_dump(recipe))
    study_file = _study(folder, ["kd", "mine.yaml"], space=TINY_SPACE)
    config = StudyConfig.from_yaml(study_file)
    study = run_study(config, progress=False)
    return {"folder": folder, "config": config, "study": study}


def test_warm_starts_are_the_first_trials(ran: dict) -> None:
    # Rule: a new study runs each entry first, with its params and a `warm_start` user attr.
    trials = ran["study"].get_trials()
    assert len(trials) == 3
    expected = warm_start_params(ran["config"], check_study(ran["config"]))
    for trial, (label, params) in zip(trials, expected, strict=False):
        assert trial.user_attrs["warm_start"] == label
        assert {k: trial.params[k] for k in params} == params
    assert trials[1].params["distill.alpha.schedule"] == "linear"
    assert trials[1].params["distill.terms.at.pair"] == "stages.2 -> stages.2"
    assert "warm_start" not in trials[2].user_attrs


def test_a_study_file_gives_its_best_trial(ran: dict, tmp_path: Path) -> None:
    # Rule: a study-file entry is its best trial, replayed through this (same) space.
    other = ran["folder"] / "study.yaml"
    config = StudyConfig.from_yaml(_study(tmp_path, [str(other)], space=TINY_SPACE))
    [(label, params)] = warm_start_params(config, check_study(config))
    assert label == str(other)
    assert params == ran["study"].best_trial.params


def _concrete(term: str, spec: dict) -> dict:
    """A literature term with `pair: auto` given a pair its loss accepts."""
    pairs = {"reviewkd": "stages.0 -> stages.0; stages.1 -> stages.1", "crd": "pool -> pool"}
    if spec.get("pair") == "auto":
        spec = {**spec, "pair": pairs.get(term, "stages.1 -> stages.1")}
    return spec


@pytest.mark.parametrize("path", sorted(LITERATURE.glob("*.yaml")), ids=lambda p: p.stem)
def test_literature_files_are_partial_recipes(path: Path) -> None:
    # Rule: each literature file cites its paper and, merged into a recipe, validates.
    text = path.read_text()
    assert text.startswith("# ") and "https://arxiv.org/abs/" in text
    partial = yaml.safe_load(text)
    assert set(partial) <= {"distill", "optim", "augment"}
    data = {
        "teacher": {
            "model": {"family": "cnn", "width": 2.0},
            "checkpoint": "t.pt",
            "sha256": "a" * 64,
        },
        "student": {"family": "cnn", "width": 0.5, "depth": 2},
        **copy.deepcopy(partial),
    }
    terms = data["distill"]["terms"]
    data["distill"]["terms"] = {k: _concrete(k, v) for k, v in terms.items()}
    recipe = Recipe.from_dict(data, file=str(path))
    assert set(recipe.distill.active_terms()) == set(terms)


def test_the_example_study_validates() -> None:
    # Rule: studies/digits_warm.yaml warm-starts from the literature recipes its space holds.
    path = Path(__file__).resolve().parents[2] / "studies" / "digits_warm.yaml"
    config = StudyConfig.from_yaml(path)
    labels = [label for label, _ in warm_start_params(config, check_study(config))]
    assert labels == ["kd", "fitnets", "at"]
