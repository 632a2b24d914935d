"""MNIST and Fashion-MNIST from their official idx files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autokd.data._build import in_memory_splits
from autokd.data._carve import carve_parts
from autokd.data._idx import read_idx
from autokd.data._load import register_dataset
from autokd.data._load import require_root
from autokd.data._splits import Splits
from autokd.exceptions import ConfigError
from autokd.exceptions import MissingFileError

if TYPE_CHECKING:
    from autokd.recipe import DataSpec

__all__ = ["IDX_FILES"]

#: The four official file names (each may also end in ``.gz``), in reading order.
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Dataset -> torchvision's class and folder name (root/<folder>/raw), and class names.
_SETS = {
    "mnist": ("MNIST", tuple(str(d) for d in range(10))),
    "fashion_mnist": (
        "FashionMNIST",
        # Label names as given by https://github.com/zalandoresearch/fashion-mnist
        (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    ),
}


def _shape(spec: DataSpec) -> tuple[tuple[int, int, int], int]:
    return (1, 28, 28), 10


@register_dataset("mnist", shape=_shape)
def mnist(spec: DataSpec) -> Splits:
    """MNIST: 70,000 grey 28x28 handwritten digits, 10 classes (LeCun, Cortes and Burges).

    Files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``) in
    ``root``, ``root/raw`` or ``root/MNIST/raw`` (torchvision's layout), as published at
    http://yann.lecun.com/exdb/mnist/. The official 10,000 test images are the test part;
    validation is carved from the 60,000 training images. ``download: true`` fetches them
    with ``torchvision.datasets.MNIST``.
    """
    return _load(spec, "mnist")


@register_dataset("fashion_mnist", shape=_shape)
def fashion_mnist(spec: DataSpec) -> Splits:
    """Fashion-MNIST: 70,000 grey 28x28 clothing images, 10 classes (Xiao et al., 2017).

    Files: the four idx files named as MNIST's (``train-images-idx3-ubyte`` ...,
    optionally ``.gz``) in ``root``, ``root/raw`` or ``root/FashionMNIST/raw``, as published
    at https://github.com/zalandoresearch/fashion-mnist (paper: https://arxiv.org/abs/1708.07747).
    The official 10,000 test images are the test part; validation is carved from the 60,000
    training images. ``download: true`` fetches them with ``torchvision.datasets.FashionMNIST``.
    """
    return _load(spec, "fashion_mnist")


def _load(spec: DataSpec, name: str) -> Splits:
    folder, classes = _SETS[name]
    root = require_root(spec, holding=f"the {folder} idx files")
    files = _find(root, name, folder)
    if files is None and spec.download:
        _download(root, name, folder)
        files = _find(root, name, folder)
    if files is None:
        raise MissingFileError(_missing_message(root, name, folder))
    train_x, train_y = _pair(files[0], files[1])
    test_x, test_y = _pair(files[2], files[3])
    if train_x.shape[1:] != test_x.shape[1:]:
        raise ConfigError(
            "",
            f"images of {train_x.shape[1:]} as in {files[0].name}",
            f"images of {test_x.shape[1:]}",
            file=str(files[2]),
        )
    images = np.concatenate([train_x, test_x])[:, None]  # (N, 1, 28, 28)
    labels = np.concatenate([train_y, test_y]).astype(np.int64)
    parts = carve_parts(labels, spec, official_test=len(test_y))
    return in_memory_splits(name, images, labels, parts, num_classes=10, classes=classes)


def _pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if len(labels) != len(images):
        raise ConfigError(
            "",
            f"as many labels as images ({len(images)} in {images_path.name})",
            f"{len(labels)} labels",
            file=str(labels_path),
        )
    if len(labels) and labels.max() > 9:
        raise ConfigError("", "labels 0..9", f"label {labels.max()}", file=str(labels_path))
    return images, labels


def _folders(root: Path, folder: str) -> list[Path]:
    return [root, root / "raw", root / folder / "raw"]


def _in(folder: Path) -> list[Path]:
    """The idx files present in ``folder`` (plain preferred to .gz), in IDX_FILES order."""
    found = []
    for stem in IDX_FILES:
        for path in (folder / stem, folder / f"{stem}.gz"):
            if path.is_file():
                found.append(path)
                break
    return found


def _find(root: Path, name: str, folder: str) -> list[Path] | None:
    for candidate in _folders(root, folder):
        found = _in(candidate)
        if len(found) == len(IDX_FILES):
            return found
    return None


def _missing_message(root: Path, name: str, folder: str) -> str:
    searched = _folders(root, folder)
    partial = max(searched, key=lambda f: len(_in(f)))
    have = {p.name.removesuffix(".gz") for p in _in(partial)}
    note = ""
    if have:
        lacking = ", ".join(s for s in IDX_FILES if s not in have)
        note = f" ({partial} lacks {lacking})"
    return (
        f"{name}: the idx files are not under {root}{note}; searched "
        f"{', '.join(str(f) for f in searched)} for {', '.join(IDX_FILES)} (each may end in "
        ".gz). Point data.root at them, or set data.download: true to fetch them."
    )


def _download(root: Path, name: str, folder: str) -> None:
    import torchvision.datasets

    try:
        getattr(torchvision.datasets, folder)(str(root), train=True, download=True)
    except (OSError, RuntimeError) as exc:
        raise MissingFileError(f"{name}: downloading into {root} failed ({exc}).") from None
