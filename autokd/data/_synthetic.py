"""A generated, learnable image set: class prototypes plus Gaussian noise."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING
from typing import Literal

import numpy as np
from pydantic import Field

from autokd._config import FrozenModel
from autokd.data._build import in_memory_splits
from autokd.data._carve import carve_parts
from autokd.data._load import dataset_params
from autokd.data._load import register_dataset
from autokd.data._splits import Splits

if TYPE_CHECKING:
    from autokd.recipe import DataSpec

__all__ = ["SyntheticParams", "synthetic_images"]

# Noise draws: 256 equally likely Gaussian quantiles, looked up from one random byte each.
_GAUSSIAN_QUANTILES = np.array(
    [statistics.NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], dtype=np.float64
)
# Images are generated in chunks of this many, so 50,000 CIFAR-sized ones need ~50 MB of
# int16 scratch space at most.
_CHUNK = 8192


class SyntheticParams(FrozenModel):
    """``data.params`` of the ``synthetic`` dataset."""

    num_classes: int = Field(10, ge=2, le=1000)
    channels: Literal[1, 3] = 3
    size: int = Field(32, ge=4, le=512)
    train: int = Field(1000, ge=4)
    test: int = Field(200, ge=1)
    noise: float = Field(0.3, ge=0.0, le=10.0)


def _prototypes(num_classes: int, channels: int, size: int) -> np.ndarray:
    """One smooth pattern per class ``(K, C, S, S)`` in [0, 1], fixed for a given shape."""
    coarse = np.random.default_rng(0).random((num_classes, channels, 4, 4), dtype=np.float32)
    rows = np.arange(size) * 4 // size  # nearest-neighbour upsampling of the 4x4 grid
    return coarse[:, :, rows][:, :, :, rows]


def synthetic_images(
    n: int,
    *,
    num_classes: int = 10,
    channels: int = 3,
    size: int = 32,
    noise: float = 0.3,
    seed: int | tuple[int, ...] = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Balanced, shuffled images of class prototypes plus (256-level) Gaussian noise.

    The prototypes depend only on ``(num_classes, channels, size)``, so sets drawn with
    different seeds share one task.

    Args:
        n: Number of images.
        num_classes: Number of classes (and prototypes).
        channels: 1 or 3.
        size: Height and width.
        noise: Standard deviation of the noise, in units of the full pixel range.
        seed: Seeds the labels and the noise (an int or a tuple of ints ≥ 0).

    Returns:
        ``(images, labels)``: uint8 ``(n, C, S, S)`` and int64 ``(n,)``.

    Example:
        >>> x, y = synthetic_images(20, num_classes=4, channels=1, size=8)
        >>> x.shape, x.dtype, np.bincount(y).tolist()
        ((20, 1, 8, 8), dtype('uint8'), [5, 5, 5, 5])
    """
    # Integer arithmetic throughout: float clipping would dominate for CIFAR-sized sets.
    protos = np.round(_prototypes(num_classes, channels, size) * 255).astype(np.int16)
    table = np.round(_GAUSSIAN_QUANTILES * noise * 255).clip(-512, 512).astype(np.int16)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    images = np.empty((n, channels, size, size), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        chunk = labels[start : start + _CHUNK]
        shape = (len(chunk), channels, size, size)
        draws = np.frombuffer(rng.bytes(int(np.prod(shape))), dtype=np.uint8).reshape(shape)
        x = protos[chunk] + table[draws]  # (B, C, S, S) int16
        images[start : start + len(chunk)] = np.clip(x, 0, 255, out=x)
    return images, labels


def _shape(spec: DataSpec) -> tuple[tuple[int, int, int], int]:
    p = dataset_params("synthetic", spec.params, prefix="data.params")
    return (p.channels, p.size, p.size), p.num_classes


@register_dataset("synthetic", shape=_shape, params=SyntheticParams)
def synthetic(spec: DataSpec) -> Splits:
    """Generated images: one smooth prototype per class plus Gaussian noise; for tests.

    Files: none. ``params``: ``num_classes`` (10), ``channels`` (1 or 3; 3), ``size`` (32),
    ``train`` (1000) and ``test`` (200) image counts, ``noise`` (0.3, in units of the pixel
    range). The images are drawn with ``split_seed``; the ``test`` images are the test part
    (``test_fraction`` is unused) and validation is carved from the ``train`` images.
    """
    p = dataset_params("synthetic", spec.params, prefix="data.params")
    shape = {"num_classes": p.num_classes, "channels": p.channels, "size": p.size}
    train_x, train_y = synthetic_images(p.train, **shape, noise=p.noise, seed=(spec.split_seed, 0))
    test_x, test_y = synthetic_images(p.test, **shape, noise=p.noise, seed=(spec.split_seed, 1))
    images, labels = np.concatenate([train_x, test_x]), np.concatenate([train_y, test_y])
    parts = carve_parts(labels, spec, official_test=p.test)
    return in_memory_splits("synthetic", images, labels, parts, num_classes=p.num_classes)
