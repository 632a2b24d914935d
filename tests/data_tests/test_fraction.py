"""data.train_fraction: a stratified, seeded share of the training part, beside train_size."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from autokd._config import parse_model
from autokd.data import Splits
from autokd.data import load_splits
from autokd.data._carve import carve_parts
from autokd.exceptions import ConfigError
from autokd.recipe import DataSpec

SMALL = {"train": 200, "test": 50}  # 20 per class; validation 0.2 leaves 160 (16 per class)
FRACTIONS = [0.1, 0.25, 0.3, 0.5, 0.77, 1.0]


def synthetic(**fields: object) -> Splits:
    return load_splits(DataSpec(name="synthetic", params=SMALL, **fields))  # type: ignore[arg-type]


def digest(x: torch.Tensor, y: torch.Tensor) -> str:
    return hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()


def labels_of(n_classes: int = 7, n: int = 700, seed: int = 3) -> np.ndarray:
    # Unbalanced classes, so a wrong rounding or a non-stratified pick shows in the counts.
    return np.random.default_rng(seed).integers(0, n_classes, size=n)


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_fraction_keeps_round_fraction_of_the_train_part(fraction: float) -> None:
    # Rule: train_fraction f keeps round(f * n) of the n training images left after validation.
    s = synthetic(train_fraction=fraction)
    assert len(s.train_y) == round(fraction * 160)
    assert (len(s.val_y), len(s.test_y)) == (40, 50)


def test_fraction_subset_is_stratified() -> None:
    # Rule: each class keeps its share: half of 16 images per class is 8 per class.
    s = synthetic(train_fraction=0.5)
    assert torch.bincount(s.train_y, minlength=10).tolist() == [8] * 10


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_fraction_and_the_equivalent_train_size_give_the_identical_subset(
    fraction: float,
) -> None:
    # Rule: train_fraction f and train_size round(f * n_train) pick the same indices.
    labels = labels_of()
    n_train = len(carve_parts(labels, DataSpec(name="synthetic", params=SMALL))["train"])
    by_fraction = carve_parts(labels, DataSpec(name="synthetic", train_fraction=fraction))
    by_size = carve_parts(labels, DataSpec(name="synthetic", train_size=round(fraction * n_train)))
    for part in ("train", "val", "test"):
        assert np.array_equal(by_fraction[part], by_size[part]), part
    assert len(by_fraction["train"]) == round(fraction * n_train)


def test_fraction_and_train_size_give_the_same_loaded_split() -> None:
    # Rule: the loaded splits, and so their split_hash, agree (0.3 * 160 = 48).
    by_fraction, by_size = synthetic(train_fraction=0.3), synthetic(train_size=48)
    assert by_fraction.split_hash == by_size.split_hash
    assert torch.equal(by_fraction.train_x, by_size.train_x)


def test_validation_and_test_parts_do_not_depend_on_the_fraction() -> None:
    # Rule: every fidelity compares on the same validation images; test never moves either.
    full = synthetic()
    val, test = digest(full.val_x, full.val_y), digest(full.test_x, full.test_y)
    hashes = {full.split_hash}
    for fraction in FRACTIONS[:-1]:
        s = synthetic(train_fraction=fraction)
        assert digest(s.val_x, s.val_y) == val and digest(s.test_x, s.test_y) == test
        hashes.add(s.split_hash)
    assert len(hashes) == len(FRACTIONS)  # the training part (and the split hash) differ


def test_carved_val_and_test_indices_do_not_depend_on_the_fraction() -> None:
    # Rule: with a carved test part too, val and test indices are those of the full split.
    labels = labels_of()
    full = carve_parts(labels, DataSpec(name="synthetic"))
    for fraction in FRACTIONS:
        parts = carve_parts(labels, DataSpec(name="synthetic", train_fraction=fraction))
        assert np.array_equal(parts["val"], full["val"])
        assert np.array_equal(parts["test"], full["test"])
        assert set(parts["train"]) <= set(full["train"])  # a subset of the training part


def test_fraction_subset_follows_the_split_seed() -> None:
    # Rule: a fraction's subset depends only on the seed: equal seeds, equal subsets.
    labels = labels_of()
    one = carve_parts(labels, DataSpec(name="synthetic", train_fraction=0.4, split_seed=5))
    two = carve_parts(labels, DataSpec(name="synthetic", train_fraction=0.4, split_seed=5))
    other = carve_parts(labels, DataSpec(name="synthetic", train_fraction=0.4, split_seed=6))
    assert np.array_equal(one["train"], two["train"])
    assert not np.array_equal(one["train"], other["train"])


def test_fraction_one_is_the_whole_training_part() -> None:
    # Rule: train_fraction 1.0 is the same split as no fraction at all.
    assert synthetic(train_fraction=1.0).split_hash == synthetic().split_hash


def test_train_size_and_train_fraction_together_are_a_config_error() -> None:
    # Rule: the two are mutually exclusive; the error names data.train_fraction.
    with pytest.raises(ConfigError) as info:
        parse_model(
            DataSpec, {"train_size": 50, "train_fraction": 0.5}, file="s.yaml", prefix="data"
        )
    assert info.value.key == "data.train_fraction" and info.value.file == "s.yaml"
    assert "train_size=50" in info.value.got


@pytest.mark.parametrize("fraction", [0, -0.1, 1.01, "half"])
def test_fraction_outside_zero_one_is_a_config_error(fraction: object) -> None:
    # Rule: train_fraction must lie in (0, 1].
    with pytest.raises(ConfigError) as info:
        parse_model(DataSpec, {"train_fraction": fraction}, file="s.yaml", prefix="data")
    assert info.value.key == "data.train_fraction"


def test_fraction_leaving_a_class_out_is_a_config_error() -> None:
    # Rule: a share smaller than one image per class names data.train_fraction and the size.
    with pytest.raises(ConfigError) as info:
        synthetic(train_fraction=0.05)  # round(0.05 * 160) = 8 < 10 classes
    assert info.value.key == "data.train_fraction"
    assert info.value.got == "0.05 (8 of 160 images)"
