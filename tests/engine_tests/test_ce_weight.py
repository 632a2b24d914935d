"""distill.ce_weight: the cross-entropy's own weight, independent of alpha."""

from __future__ import annotations

import pytest
import torch

from autokd.engine import train_recipe
from autokd.exceptions import ConfigError
from autokd.recipe import Recipe
from tests.conftest import digits_teacher


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return digits_teacher(tmp_path_factory.mktemp("teacher"))


def _recipe(teacher: dict | None, optim: dict, distill: dict) -> Recipe:
    return Recipe.from_dict(
        {
            "teacher": teacher,
            "student": {"family": "cnn", "width": 0.25, "depth": 1},
            "optim": {"epochs": 2, "batch_size": 64, **optim},
            "distill": distill,
        }
    )


def _params(result) -> list[torch.Tensor]:
    return [p.detach().clone() for p in result.student.parameters()]


def test_ce_weight_equal_to_one_minus_alpha_is_the_old_form(teacher: dict) -> None:
    # Rule: ce_weight = 1 - alpha with the same alpha trains exactly the (1 - alpha) form.
    kd = {"temperature": 3.0, "alpha": 0.7, "terms": {"kd": {}}}
    old = train_recipe(_recipe(teacher, {"lr": 0.1}, kd))
    new = train_recipe(_recipe(teacher, {"lr": 0.1}, {**kd, "ce_weight": 0.3}))
    assert new.history == old.history
    assert all(torch.equal(a, b) for a, b in zip(_params(old), _params(new), strict=True))


def test_ce_weight_scales_the_cross_entropy(teacher: dict) -> None:
    # Rule: loss = ce_weight * CE without terms. With SGD, momentum and no weight decay,
    # scaling the loss by c moves the weights as a learning rate c times larger does.
    scaled = _recipe(None, {"lr": 0.2, "weight_decay": 0.0}, {"ce_weight": 0.5})
    plain = _recipe(None, {"lr": 0.1, "weight_decay": 0.0}, {})
    a, b = _params(train_recipe(scaled)), _params(train_recipe(plain))
    assert all(torch.allclose(x, y, atol=1e-5, rtol=1e-4) for x, y in zip(a, b, strict=True))
    # ...and it is not the default: ce_weight 0.5 at the same lr trains another student.
    half = _params(
        train_recipe(_recipe(None, {"lr": 0.1, "weight_decay": 0.0}, {"ce_weight": 0.5}))
    )
    assert not all(torch.allclose(x, y, atol=1e-5) for x, y in zip(half, b, strict=True))


def test_ce_weight_keeps_full_distillation_weight(teacher: dict) -> None:
    # Rule: with ce_weight set, alpha no longer takes from the cross-entropy: ce_weight 1 with
    # alpha 0.5 is not the (1 - alpha) form at alpha 0.5.
    kd = {"temperature": 3.0, "alpha": 0.5, "terms": {"kd": {}}}
    old = train_recipe(_recipe(teacher, {"lr": 0.1}, kd))
    new = train_recipe(_recipe(teacher, {"lr": 0.1}, {**kd, "ce_weight": 1.0}))
    assert new.history != old.history


def test_negative_ce_weight_is_refused() -> None:
    with pytest.raises(ConfigError, match="ce_weight"):
        _recipe(None, {"lr": 0.1}, {"ce_weight": -1.0})
