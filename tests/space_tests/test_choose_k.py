"""``distill.choose``: exactly k (or min..max) of the listed terms are on."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from autokd.config import StudyConfig
from autokd.exceptions import ConfigError
from autokd.recipe import DataSpec
from autokd.recipe import Recipe
from autokd.recipe import TeacherSpec
from autokd.space import SearchSpace
from autokd.study import check_study
from autokd.study._recipes import PLACEHOLDER_SHA
from autokd.study._recipes import recipe_from_trial
from tests.conftest import write_study

TERMS = {
    "kd": {"search": "optional"},
    "dkd": {"search": "optional"},
    "js": {"weight": 1.0},
    "at": {"search": "optional", "pair": "stages.1 -> stages.1"},
    "cosine": {"search": "always"},
}


def _space(choose: dict, terms: dict | None = None) -> SearchSpace:
    return SearchSpace(
        {"distill": {"choose": choose, "terms": dict(terms or TERMS)}}, file="s.yaml"
    )


def _draws(space: SearchSpace, n: int = 40) -> list[tuple[dict, dict]]:
    """(params, nested) of ``n`` random trials; nested is replayed from the params."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    out = []
    for _ in range(n):
        trial = study.ask()
        live = space.sample(trial)
        assert space.sample(optuna.trial.FixedTrial(trial.params)) == live
        out.append((dict(trial.params), live))
        study.tell(trial, 0.0)
    return out


def test_exactly_k_terms_are_on() -> None:
    space = _space({"k": 2, "from": ["kd", "dkd", "js", "at"]})
    assert space.distributions["distill.choose"].choices == (
        "at+dkd",
        "at+js",
        "at+kd",
        "dkd+js",
        "dkd+kd",
        "js+kd",
    )
    seen = set()
    for params, nested in _draws(space):
        terms = nested["distill"]["terms"]
        on = sorted(n for n in ("kd", "dkd", "js", "at") if terms[n]["enabled"])
        assert "+".join(on) == params["distill.choose"]
        assert terms["cosine"]["enabled"] is True  # not in `from`: untouched
        assert "choose" not in nested["distill"]  # the combination is not a recipe field
        seen.add(params["distill.choose"])
        for name in ("kd", "dkd", "at"):
            # Weights and params are sampled only for the terms that are on.
            assert (f"distill.terms.{name}.weight" in params) == (name in on)
            if name not in on:
                assert terms[name] == {"enabled": False}
    assert len(seen) >= 4


def test_min_max_range_of_sizes() -> None:
    space = _space({"min": 1, "max": 3, "from": ["kd", "dkd", "js"]})
    choices = space.distributions["distill.choose"].choices
    assert len(choices) == 3 + 3 + 1
    assert choices[0] == "dkd" and choices[-1] == "dkd+js+kd"


def test_the_chosen_terms_make_valid_recipes() -> None:
    space = _space({"min": 1, "max": 2, "from": ["kd", "dkd", "at"]})
    teacher = TeacherSpec(model={"family": "cnn"}, checkpoint="x", sha256=PLACEHOLDER_SHA)
    for params, _ in _draws(space, 15):
        recipe = recipe_from_trial(
            space, optuna.trial.FixedTrial(params), data=DataSpec(), teacher=teacher
        )
        active = set(recipe.distill.active_terms())
        assert active - {"js", "cosine"} == set(params["distill.choose"].split("+"))
        Recipe.from_dict(recipe.to_dict())


@pytest.mark.parametrize(
    ("choose", "key", "fragment"),
    [
        ({"k": 2, "from": ["kd", "fitnets"]}, "distill.choose.from", "'fitnets'"),
        ({"k": 3, "from": ["kd", "dkd"]}, "distill.choose", "k=3"),
        ({"k": 0, "from": ["kd", "dkd"]}, "distill.choose", "k=0"),
        ({"min": 2, "max": 1, "from": ["kd", "dkd"]}, "distill.choose", "min=2, max=1"),
        ({"k": 1, "min": 1, "from": ["kd"]}, "distill.choose", "either k or min/max"),
        ({"k": 1}, "distill.choose.from", "non-empty list"),
        ({"k": 1, "from": []}, "distill.choose.from", "non-empty list"),
        ({"k": 1, "from": ["kd", "kd"]}, "distill.choose.from", "distinct"),
        ({"k": "two", "from": ["kd"]}, "distill.choose.k", "an integer"),
        ({"n": 1, "from": ["kd"]}, "distill.choose.n", "one of the keys"),
        ([1, 2], "distill.choose", "a mapping"),
    ],
)
def test_bad_choose(choose: object, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        _space(choose)  # type: ignore[arg-type]
    assert info.value.key == key and info.value.file == "s.yaml"
    assert fragment in str(info.value)


def test_too_many_combinations() -> None:
    terms = {
        name: {"search": "optional"} for name in ("kd", "dkd", "js", "dist", "margin", "cosine")
    }
    terms |= {f"kd{i}": {"loss": "kd", "search": "optional"} for i in range(6)}
    _space({"k": 2, "from": list(terms)}, terms)  # 66 combinations: fine
    with pytest.raises(ConfigError) as info:
        _space({"min": 1, "max": 12, "from": list(terms)}, terms)
    assert info.value.key == "distill.choose" and "at most 200" in str(info.value)


def test_a_chosen_term_may_not_set_enabled() -> None:
    terms = {**TERMS, "kd": {"enabled": True}}
    with pytest.raises(ConfigError) as info:
        _space({"k": 1, "from": ["kd", "dkd"]}, terms)
    assert info.value.key == "distill.terms.kd.enabled"


def test_choose_with_auto_pairs_validates_and_resolves(tmp_path: Path) -> None:
    study = write_study(
        tmp_path,
        space="""\
        optim: {epochs: 2}
        distill:
          alpha: 0.5
          choose: {min: 1, max: 2, from: [kd, fitnets, at]}
          terms:
            kd: {search: optional}
            fitnets: {search: optional}
            at: {search: optional}
        """,
    )
    space = check_study(StudyConfig.from_yaml(study))
    assert "distill.terms.fitnets.pair" in space.distributions
    assert space.auto_pairs == []
