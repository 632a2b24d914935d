"""dataset_shape without the files, and the generated synthetic set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from autokd.data import dataset_shape
from autokd.data import load_splits
from autokd.data import synthetic_images
from autokd.recipe import DataSpec
from tests.data_tests.conftest import FASHION_ROOT
from tests.data_tests.conftest import MNIST_ROOT


@pytest.fixture
def every_spec(cifar10_root: Path, cifar100_root: Path, folder_root: Path) -> dict[str, DataSpec]:
    return {
        "digits": DataSpec(name="digits"),
        "mnist": DataSpec(name="mnist", root=str(MNIST_ROOT)),
        "fashion_mnist": DataSpec(name="fashion_mnist", root=str(FASHION_ROOT)),
        "cifar10": DataSpec(name="cifar10", root=str(cifar10_root)),
        "cifar100": DataSpec(name="cifar100", root=str(cifar100_root), val_fraction=0.1),
        "imagefolder": DataSpec(name="imagefolder", root=str(folder_root)),
        "imagefolder_resized": DataSpec(name="imagefolder", root=str(folder_root), image_size=7),
        "synthetic": DataSpec(
            name="synthetic", params={"channels": 1, "size": 12, "num_classes": 4, "train": 80}
        ),
    }


@pytest.mark.parametrize(
    "key",
    [
        "digits",
        "mnist",
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "imagefolder",
        "imagefolder_resized",
        "synthetic",
    ],
)
def test_dataset_shape_equals_the_loaded_shape(key: str, every_spec: dict) -> None:
    # Rule: dataset_shape answers exactly what load_splits gives.
    spec = every_spec[key]
    s = load_splits(spec)
    assert dataset_shape(spec) == (s.image_shape, s.num_classes)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("digits", ((1, 8, 8), 10)),
        ("mnist", ((1, 28, 28), 10)),
        ("fashion_mnist", ((1, 28, 28), 10)),
        ("cifar10", ((3, 32, 32), 10)),
        ("cifar100", ((3, 32, 32), 100)),
    ],
)
def test_fixed_formats_need_no_files(tmp_path: Path, name: str, expected: tuple) -> None:
    # Rule: fixed-format sets answer their shape on a machine that lacks their files.
    assert dataset_shape(DataSpec(name=name, root=str(tmp_path / "absent"))) == expected


def test_imagefolder_shape_with_image_size_reads_no_image(tmp_path: Path) -> None:
    # Rule: with image_size set only the class folders are listed, no file decoded.
    for name in ("a", "b"):
        (tmp_path / "train" / name).mkdir(parents=True)
        (tmp_path / "train" / name / "x.png").write_bytes(b"undecodable")
    spec = DataSpec(name="imagefolder", root=str(tmp_path), image_size=24)
    assert dataset_shape(spec) == ((3, 24, 24), 2)


def test_synthetic_is_deterministic_per_seed() -> None:
    # Rule: one split_seed always gives the same images; another seed other ones.
    params = {"train": 100, "test": 20, "size": 8}
    a = load_splits(DataSpec(name="synthetic", params=params))
    load_splits.cache_clear()
    again = load_splits(DataSpec(name="synthetic", params=params))
    other = load_splits(DataSpec(name="synthetic", params=params, split_seed=1))
    assert torch.equal(a.train_x, again.train_x) and a.split_hash == again.split_hash
    assert not torch.equal(a.test_x, other.test_x)


def test_synthetic_is_learnable() -> None:
    # Rule: nearest class mean of the train part classifies the test part well.
    s = load_splits(DataSpec(name="synthetic", params={"train": 500, "test": 200}))
    x, test = s.train_x.flatten(1).float(), s.test_x.flatten(1).float()
    means = torch.stack([x[s.train_y == k].mean(0) for k in range(10)])  # (10, 3072)
    predicted = torch.cdist(test, means).argmin(1)
    assert (predicted == s.test_y).float().mean().item() > 0.9


def test_synthetic_images_are_balanced_uint8() -> None:
    # Rule: labels are balanced; images uint8 of the asked shape, spread over the pixel range.
    x, y = synthetic_images(40, num_classes=4, channels=1, size=6, seed=2)
    assert x.shape == (40, 1, 6, 6) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [10] * 4
    assert x.min() < 30 and x.max() > 225
