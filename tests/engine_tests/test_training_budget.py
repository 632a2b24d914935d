"""Learning-rate schedules, epoch overrides and the streamed data path in real training."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from autokd.engine import train_recipe
from autokd.exceptions import ConfigError
from autokd.recipe import OptimSpec
from autokd.recipe import Recipe
from autokd.testing.fake_data import write_imagefolder

BENCHMARK = {"lr": 0.05, "epochs": 240, "lr_schedule": "step", "lr_milestones": [150, 180, 210]}


@pytest.mark.parametrize(
    ("epoch", "lr"),
    [
        (0, 0.05),
        (149.99, 0.05),
        (150, 0.005),
        (179.9, 0.005),
        (180, 5e-4),
        (210, 5e-5),
        (239.9, 5e-5),
    ],
)
def test_step_schedule_is_the_cifar_benchmarks(epoch: float, lr: float) -> None:
    # x0.1 at epochs 150, 180 and 210 of 240 (Tian et al. 2020, CRD's training protocol).
    optim = OptimSpec(**BENCHMARK)
    assert optim.lr_at(epoch / 240) == pytest.approx(lr, rel=1e-12)


@pytest.mark.parametrize("progress", [0.0, 0.25, 0.5, 0.9])
def test_cosine_schedule_formula(progress: float) -> None:
    optim = OptimSpec(lr=0.2, lr_schedule="cosine")
    assert optim.lr_at(progress) == pytest.approx(0.1 * (1 + math.cos(math.pi * progress)))
    assert OptimSpec(lr=0.2, lr_schedule="constant").lr_at(progress) == 0.2


@pytest.mark.parametrize(
    ("optim", "expected"),
    [
        ({"lr_schedule": "step"}, "epochs at which lr is multiplied"),
        ({"lr_milestones": [5]}, "no milestones (lr_schedule is 'cosine'"),
        ({"lr_schedule": "step", "lr_milestones": [5, 5]}, "increasing epochs between 1 and 14"),
        ({"lr_schedule": "step", "lr_milestones": [8, 3]}, "increasing epochs"),
        ({"lr_schedule": "step", "lr_milestones": [15]}, "between 1 and 14 (epochs is 15)"),
        ({"lr_schedule": "step", "lr_milestones": [0, 4]}, "between 1 and 14"),
    ],
)
def test_bad_milestones_name_the_key(optim: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        Recipe.from_dict({"optim": {"epochs": 15, **optim}}, file="r.yaml")
    assert info.value.key == "optim.lr_milestones" and info.value.file == "r.yaml"
    assert expected in info.value.expected


def _baseline(**optim: object) -> Recipe:
    recipe = Recipe.from_dict(
        {"student": {"width": 0.25}, "optim": {"batch_size": 256, **optim}, "seed": 1}
    )
    return recipe.without_distillation()


def test_trainer_applies_the_step_schedule() -> None:
    # Each epoch's last step lies after the milestones passed: lr 0.1, then x0.5 twice.
    result = train_recipe(
        _baseline(lr=0.1, epochs=3, lr_schedule="step", lr_milestones=[1, 2], lr_gamma=0.5)
    )
    assert [h["lr"] for h in result.history] == [0.1, 0.05, 0.025]


def test_step_with_gamma_one_trains_exactly_like_constant() -> None:
    # The schedule only sets the learning rate: gamma 1 must leave every step unchanged.
    step = _baseline(epochs=2, lr_schedule="step", lr_milestones=[1], lr_gamma=1.0)
    constant = _baseline(epochs=2, lr_schedule="constant")
    assert train_recipe(step).history == train_recipe(constant).history


@pytest.mark.parametrize(
    ("epochs", "milestones", "schedule"),
    [
        (30, [19, 22, 26], "step"),
        (240, [150, 180, 210], "step"),
        (4, [2, 3], "step"),
        (2, [1], "step"),
        (1, [], "constant"),
    ],
)
def test_epoch_override_keeps_milestones_in_place(
    epochs: int, milestones: list[int], schedule: str
) -> None:
    # round(m * epochs / 240), merged and kept inside 1..epochs-1.
    recipe = Recipe.from_dict({"optim": BENCHMARK}).with_overrides(epochs=epochs)
    assert recipe.optim.epochs == epochs and list(recipe.optim.lr_milestones) == milestones
    assert recipe.optim.lr_schedule == schedule


def test_streamed_imagefolder_trains_exactly_like_in_memory(tmp_path: Path) -> None:
    # Rule: the DataLoader path yields the same batches, so training is identical on CPU.
    root = write_imagefolder(tmp_path, classes=("a", "b", "c"), per_class=20, size=12)
    histories = []
    for in_memory in (True, False):
        recipe = Recipe.from_dict(
            {
                "data": {
                    "name": "imagefolder",
                    "root": str(root),
                    "in_memory": in_memory,
                    "num_workers": 0,
                    "val_fraction": 0.25,
                },
                "student": {"width": 0.25},
                "optim": {"epochs": 2, "batch_size": 16},
                "augment": {"crop": 2, "flip": True, "cutout": 4},
                "seed": 5,
            }
        ).without_distillation()
        result = train_recipe(recipe, evaluate_test=True)
        histories.append((result.history, result.test_acc))
    assert histories[0] == histories[1]
