from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autokd.data import DATASETS
from autokd.data import load_splits
from autokd.exceptions import RegistryError
from autokd.recipe import DataSpec


def test_digits_split_sizes_and_disjointness() -> None:
    # Rule: 1,797 images: test is 20% of all, validation 20% of the rest; no image twice.
    s = load_splits(DataSpec(name="digits", val_fraction=0.2, test_fraction=0.2))
    sizes = (len(s.train_y), len(s.val_y), len(s.test_y))
    assert sum(sizes) == 1797
    assert sizes[2] == 360 and sizes[1] == math.ceil(0.2 * (1797 - 360))  # sklearn rounds up
    assert s.image_shape == (1, 8, 8) and s.num_classes == 10
    rows = {tuple(r) for part in (s.train_x, s.val_x, s.test_x) for r in part.flatten(1).tolist()}
    # digits has a few exact duplicates, so allow for them; disjoint parts keep ~all distinct.
    assert len(rows) > 1797 - 20


def test_digits_are_raw_uint8_with_stats_in_pixel_units() -> None:
    # Rule: digits stay 0..16 uint8; mean/std are those of the train part, in those units.
    s = load_splits(DataSpec(name="digits"))
    assert s.train_x.dtype == torch.uint8 and int(s.train_x.max()) == 16
    assert s.mean[0] == pytest.approx(s.train_x.double().mean().item())
    assert s.std[0] == pytest.approx(s.train_x.double().std().item(), rel=1e-3)


def test_split_is_stratified() -> None:
    # Rule: every part keeps the class shares of the whole set (10% each for digits).
    s = load_splits(DataSpec(name="digits"))
    for part in (s.train_y, s.val_y, s.test_y):
        share = torch.bincount(part, minlength=10).float() / len(part)
        assert torch.all((share - 0.1).abs() < 0.02)


def test_split_is_seeded() -> None:
    # Rule: the same seed gives the same split after a fresh load; another seed another.
    a = load_splits(DataSpec(split_seed=0))
    b = load_splits(DataSpec(split_seed=1))
    load_splits.cache_clear()
    again = load_splits(DataSpec(split_seed=0))
    assert again is not a and torch.equal(a.val_x, again.val_x)
    assert not torch.equal(a.val_x, b.val_x)


def test_normalise_gives_zero_mean_unit_std_on_train() -> None:
    # Rule: normalise standardises with the train statistics, to float32.
    s = load_splits(DataSpec())
    x = s.normalise(s.train_x)
    assert x.dtype == torch.float32
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3


def test_unknown_dataset_lists_names() -> None:
    # Rule: a failed lookup names the registered datasets and the closest one.
    with pytest.raises(RegistryError) as info:
        DATASETS.get("digitz")
    assert "digits" in str(info.value) and "Did you mean" in str(info.value)
    assert np.isin(["digits"], DATASETS.list()).all()


def test_every_builtin_dataset_is_registered() -> None:
    # Rule: importing autokd.data registers all seven built-in datasets.
    expected = {
        "cifar10",
        "cifar100",
        "digits",
        "fashion_mnist",
        "imagefolder",
        "mnist",
        "synthetic",
    }
    assert expected <= set(DATASETS.list())
