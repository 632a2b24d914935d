"""Datasets as raw uint8 splits: a registry of loaders and the seeded, stratified split.

Built-in datasets: ``digits`` (scikit-learn), ``mnist``, ``fashion_mnist`` (idx files),
``cifar10``, ``cifar100`` (python pickles), ``imagefolder`` (one folder per class) and
``synthetic`` (generated). :func:`load_splits` reads one as a :class:`Splits`;
:func:`dataset_shape` answers its image shape and class count without reading image files.

Example:
    >>> from autokd.data import dataset_shape, load_splits
    >>> from autokd.recipe import DataSpec
    >>> dataset_shape(DataSpec(name="cifar10", root="/nowhere"))
    ((3, 32, 32), 10)
    >>> splits = load_splits(DataSpec(name="synthetic", params={"train": 200, "test": 50}))
    >>> len(splits.train_y), len(splits.val_y), len(splits.test_y)
    (160, 40, 50)
"""

from autokd.data import _cifar  # noqa: F401  (registers "cifar10", "cifar100")
from autokd.data import _digits  # noqa: F401  (registers "digits")
from autokd.data import _imagefolder  # noqa: F401  (registers "imagefolder")
from autokd.data import _mnist  # noqa: F401  (registers "mnist", "fashion_mnist")
from autokd.data import _synthetic  # noqa: F401  (registers "synthetic")
from autokd.data._carve import stratified_split
from autokd.data._load import DATASETS
from autokd.data._load import check_params
from autokd.data._load import dataset_shape
from autokd.data._load import load_splits
from autokd.data._load import register_dataset
from autokd.data._source import ImageSource
from autokd.data._splits import Splits
from autokd.data._synthetic import synthetic_images

__all__ = [
    "DATASETS",
    "ImageSource",
    "Splits",
    "check_params",
    "dataset_shape",
    "load_splits",
    "register_dataset",
    "stratified_split",
    "synthetic_images",
]
