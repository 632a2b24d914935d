"""scikit-learn's bundled digits: 1,797 grey 8x8 images of 10 digits, no download."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from autokd.data._build import in_memory_splits
from autokd.data._carve import carve_parts
from autokd.data._load import register_dataset
from autokd.data._splits import Splits

if TYPE_CHECKING:
    from autokd.recipe import DataSpec


def _shape(spec: DataSpec) -> tuple[tuple[int, int, int], int]:
    return (1, 8, 8), 10


@register_dataset("digits", shape=_shape)
def digits(spec: DataSpec) -> Splits:
    """scikit-learn digits: 1,797 grey 8x8 images, pixel values 0..16, 10 classes.

    Files: none; the set ships with scikit-learn (``sklearn.datasets.load_digits``), a copy of
    the test part of UCI's "Optical Recognition of Handwritten Digits"
    (https://archive.ics.uci.edu/dataset/80). There is no official test split: the test part
    is ``test_fraction`` of all images and validation ``val_fraction`` of the rest, both
    stratified and seeded by ``split_seed``.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)[:, None]  # (N, 1, 8, 8), values 0..16
    labels = bunch.target.astype(np.int64)
    parts = carve_parts(labels, spec)
    classes = tuple(str(d) for d in range(10))
    return in_memory_splits("digits", images, labels, parts, num_classes=10, classes=classes)
