"""Fixtures for the data tests: the shared real MNIST files and fake sets in real formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from autokd.testing.fake_data import write_cifar
from autokd.testing.fake_data import write_imagefolder

#: Read-only official files; the repository is checked out beside ``shared``.
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MNIST_ROOT = SHARED_DATA / "mnist"
FASHION_ROOT = SHARED_DATA / "fashion-mnist"


@pytest.fixture(scope="session")
def cifar10_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cifar(tmp_path_factory.mktemp("c10"), n_train=600, n_test=100)


@pytest.fixture(scope="session")
def cifar100_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cifar(tmp_path_factory.mktemp("c100"), num_classes=100, n_train=1000, n_test=200)


@pytest.fixture(scope="session")
def folder_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/ and test/ folders, 3 classes, 12 RGB 10x10 images per class and split."""
    root = tmp_path_factory.mktemp("folder")
    return write_imagefolder(root, classes=("ant", "bee", "cat"), per_class=12, size=10)
