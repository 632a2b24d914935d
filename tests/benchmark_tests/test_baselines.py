"""Baselines: the winner's recipe with only its distillation replaced, pairs as the papers."""

from __future__ import annotations

import pytest

from autokd.benchmark import baseline_names
from autokd.benchmark import baseline_recipe
from autokd.benchmark._baselines import choose_pair
from autokd.recipe import Recipe

# What autokd proposes for a digits CNN teacher (width 2, depth 2) and student (width 0.25).
PROPOSED = [
    "stem -> stem",
    "stem -> stages.0",
    "stages.0 -> stem",
    "stages.0 -> stages.0",
    "stages.1 -> stages.1",
    "stages.2 -> stages.2",
    "pool -> pool",
    "head -> head",
]
CHAINS = [
    "stem -> stem; stages.0 -> stages.0",
    "stages.0 -> stages.0; stages.1 -> stages.1",
    "stages.0 -> stages.0; stages.2 -> stages.2",
    "stages.1 -> stages.1; stages.2 -> stages.2",
    "stages.0 -> stages.0; stages.1 -> stages.1; stages.2 -> stages.2",
    "stages.1 -> stages.1; pool -> pool",
]


def test_paper_pair_rules() -> None:
    # Rule: FitNets the middle stage, AT every stage summed, CRD the pooled features, ReviewKD
    # the longest chain of stages, anything else the first name-matched pair.
    assert choose_pair("middle", PROPOSED) == "stages.1 -> stages.1"
    assert choose_pair("stages", PROPOSED) == (
        "stages.0 -> stages.0; stages.1 -> stages.1; stages.2 -> stages.2"
    )
    assert choose_pair("pool", PROPOSED) == "pool -> pool"
    assert choose_pair("chain", CHAINS) == CHAINS[4]
    assert choose_pair("first", PROPOSED) == "stem -> stem"
    assert choose_pair("pool", ["stem -> stages.0"]) == "stem -> stages.0"  # nothing matches
    assert choose_pair("middle", []) is None


@pytest.fixture
def winner() -> Recipe:
    return Recipe.from_dict(
        {
            "data": {"name": "digits"},
            "teacher": {
                "model": {"family": "cnn", "width": 2.0, "depth": 2},
                "checkpoint": "t.pt",
                "sha256": "a" * 64,
            },
            "student": {"family": "cnn", "width": 0.25, "depth": 1},
            "optim": {"lr": 0.07, "epochs": 12},
            "augment": {"crop": 1},
            "distill": {"temperature": 3.0, "alpha": 0.6, "terms": {"kd": {"weight": 1.5}}},
            "seed": 4,
            "provenance": {"trial": 7},
        }
    )


@pytest.mark.parametrize("name", baseline_names())
def test_only_the_distillation_differs(name: str, winner: Recipe) -> None:
    # Rule: data, student, optimiser, augmentation and seed are the winner's.
    recipe = baseline_recipe(name, winner)
    got, want = recipe.to_dict(), winner.to_dict()
    for section in ("data", "teacher", "student", "optim", "augment", "seed"):
        assert got[section] == want[section], section
    assert recipe.provenance == {"trial": 7, "baseline": name}
    for term in recipe.distill.active_terms().values():
        assert term.pair != "auto"


def test_literature_settings_reach_the_recipe(winner: Recipe) -> None:
    # Rule: DKD keeps CE at weight 1 and warms its weight up over 1/12 of training; no_kd
    # trains on the cross-entropy alone; AT sums over the three stages.
    dkd = baseline_recipe("dkd", winner).distill
    assert dkd.ce_weight == 1.0 and dkd.alpha.build()(0.5) == 1.0
    weight = dkd.terms["dkd"].weight.build()
    assert weight(0.0) == 0.0 and weight(1 / 24) == pytest.approx(0.5, abs=1e-5)
    assert weight(0.5) == 1.0
    kd_ls = baseline_recipe("kd_ls", winner).distill
    assert kd_ls.ce_weight == 0.1 and kd_ls.terms["kd"].params == {"standardize": True}
    assert baseline_recipe("no_kd", winner).distill.active_terms() == {}
    at = baseline_recipe("at", winner).distill.terms["at"]
    assert len(at.pairs) == 3 and all(t == s for t, s in at.pairs)
