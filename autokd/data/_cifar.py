"""CIFAR-10 and CIFAR-100 from their official python (pickle) files."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from autokd.data._build import in_memory_splits
from autokd.data._carve import carve_parts
from autokd.data._load import register_dataset
from autokd.data._load import require_root
from autokd.data._splits import Splits
from autokd.data._unpickle import safe_unpickle
from autokd.exceptions import ConfigError
from autokd.exceptions import MissingFileError

if TYPE_CHECKING:
    from autokd.recipe import DataSpec

__all__ = ["CIFAR_LAYOUTS", "CifarLayout"]

#: One image row: the 32x32 red plane, then green, then blue (3 x 1024 bytes).
ROW_BYTES = 3 * 32 * 32


@dataclasses.dataclass(frozen=True)
class CifarLayout:
    """Where a CIFAR variant keeps its files and labels."""

    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    labels: str
    names: str
    num_classes: int
    torchvision_class: str


CIFAR_LAYOUTS = {
    "cifar10": CifarLayout(
        folder="cifar-10-batches-py",
        train=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test=("test_batch",),
        meta="batches.meta",
        labels="labels",
        names="label_names",
        num_classes=10,
        torchvision_class="CIFAR10",
    ),
    "cifar100": CifarLayout(
        folder="cifar-100-python",
        train=("train",),
        test=("test",),
        meta="meta",
        labels="fine_labels",
        names="fine_label_names",
        num_classes=100,
        torchvision_class="CIFAR100",
    ),
}


def _shape(spec: DataSpec) -> tuple[tuple[int, int, int], int]:
    return (3, 32, 32), CIFAR_LAYOUTS[spec.name].num_classes


@register_dataset("cifar10", shape=_shape)
def cifar10(spec: DataSpec) -> Splits:
    """CIFAR-10: 60,000 colour 32x32 images, 10 classes (Krizhevsky, 2009).

    Files: ``data_batch_1`` ... ``data_batch_5``, ``test_batch`` and (for class names)
    ``batches.meta`` in ``root/cifar-10-batches-py`` or ``root``: the "CIFAR-10 python
    version" of https://www.cs.toronto.edu/~kriz/cifar.html ("Learning Multiple Layers of
    Features from Tiny Images"). The official 10,000 test images are the test part;
    validation is carved from the 50,000 training images. ``download: true`` fetches them
    with ``torchvision.datasets.CIFAR10``.
    """
    return _load(spec, "cifar10")


@register_dataset("cifar100", shape=_shape)
def cifar100(spec: DataSpec) -> Splits:
    """CIFAR-100: 60,000 colour 32x32 images, 100 fine classes (Krizhevsky, 2009).

    Files: ``train``, ``test`` and (for class names) ``meta`` in ``root/cifar-100-python``
    or ``root``: the "CIFAR-100 python version" of
    https://www.cs.toronto.edu/~kriz/cifar.html. Labels are the fine labels. The official
    10,000 test images are the test part; validation is carved from the 50,000 training
    images. ``download: true`` fetches them with ``torchvision.datasets.CIFAR100``.
    """
    return _load(spec, "cifar100")


def _load(spec: DataSpec, name: str) -> Splits:
    layout = CIFAR_LAYOUTS[name]
    root = require_root(spec, holding=f"{layout.folder}/")
    folder = _find(root, layout)
    if folder is None and spec.download:
        _download(root, name, layout)
        folder = _find(root, layout)
    if folder is None:
        raise MissingFileError(_missing_message(root, name, layout))
    batches = [_read_batch(folder / f, layout) for f in layout.train + layout.test]
    images = np.concatenate([data for data, _ in batches]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([lab for _, lab in batches])
    n_test = sum(len(lab) for _, lab in batches[len(layout.train) :])
    parts = carve_parts(labels, spec, official_test=n_test)
    classes = _class_names(folder / layout.meta, layout)
    return in_memory_splits(
        name, images, labels, parts, num_classes=layout.num_classes, classes=classes
    )


def _find(root: Path, layout: CifarLayout) -> Path | None:
    for folder in (root / layout.folder, root):
        if all((folder / f).is_file() for f in layout.train + layout.test):
            return folder
    return None


def _missing_message(root: Path, name: str, layout: CifarLayout) -> str:
    return (
        f"{name}: the CIFAR files are not under {root}; searched {root / layout.folder} and "
        f"{root} for {', '.join(layout.train + layout.test)} (the python version from "
        "https://www.cs.toronto.edu/~kriz/cifar.html). Point data.root at them, or set "
        "data.download: true to fetch them."
    )


def _download(root: Path, name: str, layout: CifarLayout) -> None:
    import torchvision.datasets

    try:
        getattr(torchvision.datasets, layout.torchvision_class)(
            str(root), train=True, download=True
        )
    except (OSError, RuntimeError) as exc:
        raise MissingFileError(f"{name}: downloading into {root} failed ({exc}).") from None


def _read_dict(path: Path) -> dict[str, Any]:
    obj = safe_unpickle(path, what="a CIFAR batch file")
    if not isinstance(obj, dict):
        raise ConfigError(
            "", "a pickled dict (a CIFAR batch file)", type(obj).__name__, file=str(path)
        )
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _read_batch(path: Path, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray]:
    batch = _read_dict(path)
    data = batch.get("data")
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == ROW_BYTES
    ):
        got = (
            f"{data.dtype} rows of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise ConfigError(
            "", f"'data': uint8 rows of {ROW_BYTES} bytes (R, G, B planes)", got, file=str(path)
        )
    try:
        labels = np.asarray(batch.get(layout.labels, []), dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        labels = np.zeros((0, 0), dtype=np.int64)  # reported as a count mismatch below
    if labels.shape != (len(data),):
        raise ConfigError(
            "",
            f"'{layout.labels}': one label per row ({len(data)})",
            f"{labels.size} labels",
            file=str(path),
        )
    if len(labels) and not 0 <= labels.min() <= labels.max() < layout.num_classes:
        bad = labels.max() if labels.max() >= layout.num_classes else labels.min()
        raise ConfigError(
            "", f"labels 0..{layout.num_classes - 1}", f"label {bad}", file=str(path)
        )
    return data, labels


def _class_names(path: Path, layout: CifarLayout) -> tuple[str, ...] | None:
    if not path.is_file():
        return None
    names = _read_dict(path).get(layout.names)
    if not isinstance(names, list) or len(names) != layout.num_classes:
        raise ConfigError(
            "",
            f"'{layout.names}': a list of {layout.num_classes} class names",
            f"{len(names)} names" if isinstance(names, list) else type(names).__name__,
            file=str(path),
        )
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
