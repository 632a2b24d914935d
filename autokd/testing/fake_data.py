"""Small learnable datasets written in the real on-disk formats, for tests and benchmarks.

Each writer draws images with :func:`autokd.data.synthetic_images` (class prototypes plus
noise), so a model can learn them, and lays them out byte for byte as the official files.

Example:
    >>> import tempfile
    >>> from autokd.data import load_splits
    >>> from autokd.recipe import DataSpec
    >>> from autokd.testing.fake_data import write_cifar
    >>> root = write_cifar(tempfile.mkdtemp(), n_train=100, n_test=20)
    >>> len(load_splits(DataSpec(name="cifar10", root=str(root))).test_y)
    20
"""

from __future__ import annotations

import gzip
from pathlib import Path
import pickle
import struct
from typing import Any

import numpy as np
import torch

from autokd.data import synthetic_images

__all__ = ["CIFAR10_CLASSES", "write_cifar", "write_idx", "write_imagefolder"]

#: CIFAR-10's class names, in label order (https://www.cs.toronto.edu/~kriz/cifar.html).
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


class _Python2Pickler(pickle._Pickler):  # type: ignore[misc]
    """Protocol 2 with every string as a Python 2 ``str`` (BINSTRING), as cPickle wrote them.

    The official CIFAR files come from Python 2, so their keys, names and the pixel buffer
    inside each numpy array are byte strings; Python 3 alone would write ``bytes`` as
    ``_codecs.encode(...)`` calls and ``str`` as unicode.
    """

    def save_bytes(self, obj: bytes | str) -> None:
        data = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    def save_global(self, obj: Any, name: str | None = None) -> None:
        # numpy 2 names its array rebuilder numpy._core.*; files from 2009 name numpy.core.*.
        module = pickle.whichmodule(obj, name or obj.__qualname__)
        if module.startswith("numpy._core."):
            module = "numpy.core." + module.removeprefix("numpy._core.")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]
    dispatch[bytes] = save_bytes
    dispatch[str] = save_bytes


def _dump(obj: dict[bytes, Any], path: Path) -> None:
    with path.open("wb") as f:
        _Python2Pickler(f, protocol=2).dump(obj)


def _batch(label: str, x: np.ndarray, y: np.ndarray, keys: dict[bytes, Any]) -> dict:
    names = [f"fake_{i:06d}.png".encode() for i in range(len(y))]
    data = x.reshape(len(x), 3 * 32 * 32)  # each row: R plane, G plane, B plane (32x32 each)
    return {b"batch_label": label.encode(), **keys, b"data": data, b"filenames": names}


def write_cifar(
    root: str | Path,
    *,
    num_classes: int = 10,
    n_train: int = 500,
    n_test: int = 100,
    seed: int = 0,
) -> Path:
    """Writes a CIFAR-10 or CIFAR-100 set in the official python (pickle) format.

    CIFAR-10: ``cifar-10-batches-py/data_batch_1..5`` (the train images split in five),
    ``test_batch`` and ``batches.meta``; each batch a dict with ``b"data"`` (uint8
    ``(N, 3072)``), ``b"labels"``, ``b"filenames"`` and ``b"batch_label"``. CIFAR-100:
    ``cifar-100-python/train``, ``test`` (``b"fine_labels"`` and ``b"coarse_labels"``, coarse
    = fine // 5) and ``meta``. 50,000 images take a few seconds.

    Args:
        root: Where the dataset folder is created.
        num_classes: 10 or 100.
        n_train: Training images.
        n_test: Test images.
        seed: Seeds the images and labels.

    Returns:
        The dataset folder (``root/cifar-10-batches-py`` or ``root/cifar-100-python``); it,
        or ``root``, serves as ``data.root``.

    Raises:
        ValueError: If ``num_classes`` is not 10 or 100.
    """
    if num_classes not in (10, 100):
        raise ValueError(f"num_classes must be 10 or 100, but got {num_classes}.")
    shape = {"num_classes": num_classes, "channels": 3, "size": 32}
    train_x, train_y = synthetic_images(n_train, **shape, seed=(seed, 0))
    test_x, test_y = synthetic_images(n_test, **shape, seed=(seed, 1))
    if num_classes == 10:
        folder = Path(root) / "cifar-10-batches-py"
        folder.mkdir(parents=True, exist_ok=True)
        chunks = np.array_split(np.arange(n_train), 5)
        for i, index in enumerate(chunks, start=1):
            keys = {b"labels": train_y[index].tolist()}
            batch = _batch(f"training batch {i} of 5", train_x[index], train_y[index], keys)
            _dump(batch, folder / f"data_batch_{i}")
        keys = {b"labels": test_y.tolist()}
        _dump(_batch("testing batch 1 of 1", test_x, test_y, keys), folder / "test_batch")
        meta = {b"num_cases_per_batch": 10000, b"num_vis": 3072}
        _dump(
            {**meta, b"label_names": [c.encode() for c in CIFAR10_CLASSES]},
            folder / "batches.meta",
        )
        return folder
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        keys = {b"fine_labels": y.tolist(), b"coarse_labels": (y // 5).tolist()}
        _dump(_batch(name, x, y, keys), folder / name)
    fine = [f"class_{i:02d}".encode() for i in range(100)]
    coarse = [f"superclass_{i:02d}".encode() for i in range(20)]
    _dump({b"fine_label_names": fine, b"coarse_label_names": coarse}, folder / "meta")
    return folder


def write_imagefolder(
    root: str | Path,
    *,
    classes: tuple[str, ...] | list[str],
    per_class: int,
    size: int,
    channels: int = 3,
    splits: tuple[str, ...] = ("train", "test"),
    seed: int = 0,
) -> Path:
    """Writes PNG files in ImageFolder layout: ``root/<split>/<class>/img_0000.png``.

    Args:
        root: The dataset folder (created).
        classes: Class folder names.
        per_class: Images per class and split.
        size: Height and width.
        channels: 1 (grey PNG) or 3 (RGB PNG).
        splits: Split folders to write; ``()`` writes ``root/<class>/`` directly.
        seed: Seeds the images.

    Returns:
        ``root``.
    """
    from torchvision.io import write_png

    root = Path(root)
    shape = {"num_classes": len(classes), "channels": channels, "size": size}
    for s, split in enumerate(splits or ("",)):
        x, y = synthetic_images(per_class * len(classes), **shape, seed=(seed, s))
        counts = dict.fromkeys(range(len(classes)), 0)
        for image, label in zip(x, y, strict=True):
            folder = root / split / classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            write_png(torch.from_numpy(image), str(folder / f"img_{counts[label]:04d}.png"))
            counts[label] += 1
    return root


def write_idx(
    root: str | Path, *, n_train: int, n_test: int, seed: int = 0, gz: bool = True
) -> Path:
    """Writes the four MNIST idx files (grey 28x28 images, labels 0..9) into ``root``.

    Args:
        root: The folder (created).
        n_train: Training images.
        n_test: Test images.
        seed: Seeds the images.
        gz: Write ``*.gz`` files, as distributed, instead of plain ones.

    Returns:
        ``root``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    shape = {"num_classes": 10, "channels": 1, "size": 28}
    for stem, n, s in (("train", n_train, 0), ("t10k", n_test, 1)):
        x, y = synthetic_images(n, **shape, seed=(seed, s))
        _write_idx_file(root / f"{stem}-images-idx3-ubyte", x[:, 0], gz=gz)
        _write_idx_file(root / f"{stem}-labels-idx1-ubyte", y.astype(np.uint8), gz=gz)
    return root


def _write_idx_file(path: Path, array: np.ndarray, *, gz: bool) -> None:
    # Magic 00 00 08 NDIM (unsigned bytes), then each size as a big-endian uint32.
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(payload, compresslevel=1))
    else:
        path.write_bytes(payload)
