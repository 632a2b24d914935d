"""Image files sorted into one folder per class (torchvision's ImageFolder layout)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import dataclasses
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Literal

import numpy as np

from autokd._config import FrozenModel
from autokd.data._build import in_memory_splits
from autokd.data._build import streamed_splits
from autokd.data._carve import carve_parts
from autokd.data._decode import IMAGE_SUFFIXES
from autokd.data._decode import ImageFolderSource
from autokd.data._decode import check_size
from autokd.data._decode import decode_file
from autokd.data._load import dataset_params
from autokd.data._load import register_dataset
from autokd.data._load import require_root
from autokd.data._splits import Splits
from autokd.exceptions import ConfigError
from autokd.exceptions import MissingFileError

if TYPE_CHECKING:
    from autokd.recipe import DataSpec

__all__ = ["IN_MEMORY_LIMIT", "ImageFolderParams"]

#: With ``in_memory: null``, a set whose decoded uint8 pixels fit in this many bytes is
#: loaded whole; a larger one is streamed.
IN_MEMORY_LIMIT = 2 * 1024**3


class ImageFolderParams(FrozenModel):
    """``data.params`` of the ``imagefolder`` dataset."""

    channels: Literal[1, 3] = 3


@dataclasses.dataclass(frozen=True)
class _Scan:
    classes: tuple[str, ...]
    files: list[str]  # relative to root: the train pool, then the official test set
    labels: np.ndarray
    n_test: int


def _layout(root: Path) -> tuple[Path, Path | None]:
    """(train folder, test folder or None): root/train + root/test|val, or root itself."""
    if not root.is_dir():
        raise MissingFileError(f"imagefolder: data.root {root} is not a folder.")
    if not (root / "train").is_dir():
        return root, None
    for name in ("test", "val"):
        if (root / name).is_dir():
            return root / "train", root / name
    return root / "train", None


def _class_names(folder: Path, root: Path) -> tuple[str, ...]:
    names = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not names:
        raise MissingFileError(
            f"imagefolder: {folder} holds no class folders; expected {root}/train/<class>/"
            f"<image> (with optional {root}/test/<class>/ or val/) or {root}/<class>/<image>."
        )
    return tuple(names)


def _images_in(folder: Path) -> list[Path]:
    files = sorted(
        f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
    )
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise MissingFileError(f"imagefolder: {folder} holds no images ({suffixes}).")
    return files


def _scan(root: Path) -> _Scan:
    train_dir, test_dir = _layout(root)
    classes = _class_names(train_dir, root)
    parts = [train_dir] if test_dir is None else [train_dir, test_dir]
    files: list[str] = []
    labels: list[int] = []
    n_test = 0
    for folder in parts:
        if folder is test_dir:
            _same_classes(test_dir, classes, train_dir)
        for label, name in enumerate(classes):
            found = _images_in(folder / name)
            files += [f.relative_to(root).as_posix() for f in found]
            labels += [label] * len(found)
            n_test += len(found) if folder is test_dir else 0
    return _Scan(classes, files, np.asarray(labels, dtype=np.int64), n_test)


def _same_classes(test_dir: Path, classes: tuple[str, ...], train_dir: Path) -> None:
    for name in classes:
        if not (test_dir / name).is_dir():
            raise MissingFileError(
                f"imagefolder: {test_dir / name} is missing; every class folder of "
                f"{train_dir} needs one in {test_dir}."
            )
    extra = sorted(set(_class_names(test_dir, test_dir.parent)) - set(classes))
    if extra:
        raise ConfigError(
            "",
            f"the class folders of {train_dir}",
            f"'{extra[0]}', which {train_dir} lacks",
            file=str(test_dir),
        )


def _shape(spec: DataSpec) -> tuple[tuple[int, int, int], int]:
    p = dataset_params("imagefolder", spec.params, prefix="data.params")
    root = require_root(spec, holding="class folders of images")
    train_dir, _ = _layout(root)
    classes = _class_names(train_dir, root)
    if spec.image_size is not None:
        return (p.channels, spec.image_size, spec.image_size), len(classes)
    first = _images_in(train_dir / classes[0])[0]
    image = decode_file(first, channels=p.channels, image_size=None)
    return (p.channels, int(image.shape[1]), int(image.shape[2])), len(classes)


@register_dataset("imagefolder", shape=_shape, params=ImageFolderParams)
def imagefolder(spec: DataSpec) -> Splits:
    """Images in one folder per class, as torchvision's ``ImageFolder`` reads them.

    Files: ``root/train/<class>/<image>`` with an optional ``root/test/<class>/`` (or, when
    there is no ``test/``, ``root/val/<class>/``) as the test part; or ``root/<class>/<image>``
    directly, and then the test part is ``test_fraction`` of all images. Images are png, jpeg,
    webp, gif (decoded by ``torchvision.io.decode_image``) or bmp, tiff, ppm, pgm (Pillow);
    other files are ignored. Classes are the sorted folder names. ``params.channels`` (1 or
    3; 3) converts grey and RGB; ``image_size`` resizes every image to a square with
    antialiasing and is required when sizes differ. With ``in_memory: null`` sets up to
    ``IN_MEMORY_LIMIT`` decoded bytes are held in memory, larger ones are streamed.
    """
    p = dataset_params("imagefolder", spec.params, prefix="data.params")
    root = require_root(spec, holding="class folders of images")
    scan = _scan(root)
    parts = carve_parts(scan.labels, spec, official_test=scan.n_test)
    first = decode_file(root / scan.files[0], channels=p.channels, image_size=spec.image_size)
    shape = (p.channels, int(first.shape[1]), int(first.shape[2]))
    in_memory = spec.in_memory
    if in_memory is None:
        in_memory = len(scan.files) * math.prod(shape) <= IN_MEMORY_LIMIT
    common = {"num_classes": len(scan.classes), "classes": scan.classes}
    if in_memory:
        images = _decode_all(root, scan.files, shape, spec.image_size)
        return in_memory_splits("imagefolder", images, scan.labels, parts, **common)

    def make_source(index: np.ndarray) -> ImageFolderSource:
        files = [scan.files[i] for i in index]
        return ImageFolderSource(str(root), files, shape=shape, image_size=spec.image_size)

    return streamed_splits(
        "imagefolder",
        make_source,
        scan.labels,
        parts,
        fingerprint=_fingerprint(root, scan.files, shape, spec.image_size),
        seed=spec.split_seed,
        **common,
    )


def _decode_all(
    root: Path, files: list[str], shape: tuple[int, int, int], image_size: int | None
) -> np.ndarray:
    images = np.empty((len(files), *shape), dtype=np.uint8)  # (N, C, H, W)

    def decode(i: int) -> None:
        path = root / files[i]
        image = decode_file(path, channels=shape[0], image_size=image_size)
        check_size(image, path, shape)
        images[i] = image.numpy()

    # Decoding releases the GIL, so threads overlap file reads and decoding.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(decode, range(len(files))))
    return images


def _fingerprint(
    root: Path, files: list[str], shape: tuple[int, int, int], image_size: int | None
) -> list[bytes]:
    """Relative paths and sizes of the files, and the decoding options, as bytes."""
    lines = [f"{f}\t{(root / f).stat().st_size}\n" for f in files]
    return [f"shape={shape};image_size={image_size}\n".encode(), "".join(lines).encode()]
