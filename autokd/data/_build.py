"""Turning images, labels and part indices into Splits, in memory or streamed."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable

import numpy as np
import torch

from autokd.data._carve import PARTS
from autokd.data._carve import channel_stats
from autokd.data._carve import split_hash
from autokd.data._source import ImageSource
from autokd.data._splits import Splits

__all__ = ["STATS_SAMPLE", "in_memory_splits", "streamed_splits"]

#: Streamed sets estimate mean and std from this many seeded training images at most.
STATS_SAMPLE = 2000


def in_memory_splits(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    parts: dict[str, np.ndarray],
    *,
    num_classes: int,
    classes: tuple[str, ...] | None = None,
) -> Splits:
    """Splits holding uint8 tensors; the hash covers every pixel.

    Args:
        name: The registered dataset name (hashed).
        images: uint8 ``(N, C, H, W)``, every image of the set.
        labels: int ``(N,)``.
        parts: Index arrays ``{"train", "val", "test"}`` into ``images``.
        num_classes: The number of classes.
        classes: Class names by label, if known.

    Returns:
        The Splits, with mean and std from the train part.
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    shape = np.asarray(images.shape, dtype="<i8").tobytes()
    digest = split_hash(name, [shape, images.data], labels, parts)
    tensors: dict[str, torch.Tensor] = {}
    for part in PARTS:
        index = parts[part]
        tensors[f"{part}_x"] = torch.from_numpy(images[index])  # fancy indexing copies
        tensors[f"{part}_y"] = torch.from_numpy(labels[index].astype(np.int64))
    mean, std = channel_stats(tensors["train_x"])
    return Splits(
        **tensors,
        num_classes=num_classes,
        mean=mean,
        std=std,
        split_hash=digest,
        classes=classes,
    )


def streamed_splits(
    name: str,
    make_source: Callable[[np.ndarray], ImageSource],
    labels: np.ndarray,
    parts: dict[str, np.ndarray],
    *,
    fingerprint: Iterable[bytes],
    num_classes: int,
    seed: int,
    classes: tuple[str, ...] | None = None,
) -> Splits:
    """Splits whose images are read lazily; the hash covers the file fingerprint.

    Args:
        name: The registered dataset name (hashed).
        make_source: Builds the ImageSource of the images at the given indices.
        labels: int ``(N,)``.
        parts: Index arrays ``{"train", "val", "test"}``.
        fingerprint: Byte chunks naming the files (relative paths and sizes) and the
            decoding options.
        num_classes: The number of classes.
        seed: Seeds the sample of training images the statistics come from.
        classes: Class names by label, if known.

    Returns:
        The Splits, with mean and std estimated from up to ``STATS_SAMPLE`` train images.
    """
    fields: dict[str, ImageSource | torch.Tensor] = {}
    for part in PARTS:
        fields[f"{part}_x"] = make_source(parts[part])
        fields[f"{part}_y"] = torch.from_numpy(labels[parts[part]].astype(np.int64))
    train = fields["train_x"]
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.permutation(len(train))[:STATS_SAMPLE])
    mean, std = channel_stats(torch.stack([train[int(i)] for i in sample]))
    return Splits(
        **fields,  # type: ignore[arg-type]
        num_classes=num_classes,
        mean=mean,
        std=std,
        split_hash=split_hash(name, fingerprint, labels, parts),
        classes=classes,
    )
