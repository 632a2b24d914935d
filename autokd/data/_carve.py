"""Seeded, stratified index splits, per-channel statistics and the split hash."""

from __future__ import annotations

from collections.abc import Iterable
import hashlib
from typing import TYPE_CHECKING

import numpy as np
import torch

from autokd.exceptions import ConfigError

if TYPE_CHECKING:
    from autokd.recipe import DataSpec

__all__ = ["carve_parts", "channel_stats", "split_hash", "stratified_split"]

PARTS = ("train", "val", "test")


def stratified_split(
    labels: np.ndarray, fraction: float | int, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Splits ``fraction`` of every class off, seeded (scikit-learn's ``train_test_split``).

    Args:
        labels: Class labels ``(N,)``.
        fraction: Share to split off in (0, 1), or a number of items when an int.
        seed: Random state; equal seeds give equal splits.

    Returns:
        Sorted indices ``(keep, split_off)`` into ``labels``.

    Raises:
        ValueError: If a class has too few items to appear on both sides.
    """
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    keep, off = train_test_split(idx, test_size=fraction, stratify=labels, random_state=seed)
    return np.sort(keep), np.sort(off)


def carve_parts(labels: np.ndarray, spec: DataSpec, *, official_test: int = 0) -> dict:
    """Index arrays ``{"train", "val", "test"}`` into ``labels``, as ``spec`` asks.

    Args:
        labels: Labels of every image ``(N,)``; an official test set comes last.
        spec: Supplies ``val_fraction``, ``test_fraction``, ``train_size`` or
            ``train_fraction``, and ``split_seed``.
        official_test: How many of the last labels are the official test set; 0 carves a
            test part of ``test_fraction`` of everything instead.

    Returns:
        Sorted int64 index arrays. Validation is ``val_fraction`` of the non-test images and
        ``train_size`` (if set) keeps a stratified subset of what remains;
        ``train_fraction`` keeps ``round(train_fraction * n)`` of those ``n`` images, the
        same subset as that ``train_size``. Validation and test never depend on either.

    Raises:
        ConfigError: If a fraction, ``train_size`` or ``train_fraction`` leaves some class
            out of a part.
    """
    seed, n = spec.split_seed, len(labels)
    if official_test:
        pool, test = np.arange(n - official_test), np.arange(n - official_test, n)
    else:
        pool, test = _split(labels, spec.test_fraction, seed, "data.test_fraction")
    keep, val = _split(labels[pool], spec.val_fraction, seed, "data.val_fraction")
    train, val = pool[keep], pool[val]
    size, key, asked = _train_size(spec, len(train))
    if size is not None and size != len(train):
        train = train[_subset(labels[train], size, seed, key=key, asked=asked)]
    return {"train": train, "val": val, "test": test}


def _train_size(spec: DataSpec, n_train: int) -> tuple[int | None, str, str]:
    """The training subset's size (None: all), the key that set it, and how it was asked."""
    if spec.train_fraction is None:
        return spec.train_size, "data.train_size", str(spec.train_size)
    # The same size a user would write as train_size, so both give the identical subset.
    size = round(spec.train_fraction * n_train)
    return size, "data.train_fraction", f"{spec.train_fraction} ({size} of {n_train} images)"


def _split(labels: np.ndarray, fraction: float, seed: int, key: str) -> tuple:
    try:
        return stratified_split(labels, fraction, seed=seed)
    except ValueError as exc:
        raise ConfigError(
            key,
            "a fraction that leaves every class on both sides of the split",
            f"{fraction} for {len(labels)} images ({exc})",
        ) from None


def _subset(labels: np.ndarray, size: int, seed: int, *, key: str, asked: str) -> np.ndarray:
    classes = len(np.unique(labels))
    if not classes <= size <= len(labels):
        raise ConfigError(
            key,
            f"between {classes} (one image per class) and {len(labels)} (the training images "
            "left after validation is held out)",
            asked,
        )
    dropped = len(labels) - size
    if dropped < classes:  # too few to stratify; dropping so few keeps the class shares anyway
        rng = np.random.default_rng(seed)
        return np.sort(rng.permutation(len(labels))[dropped:])
    # Always split off an image count, never a share: train_size and train_fraction then agree.
    return _split(labels, size, seed, key)[1]


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images, exact.

    A 256-bin histogram per channel avoids a float copy of the whole set.

    Args:
        images: uint8 ``(N, C, H, W)``.

    Returns:
        ``(mean, std)`` tuples in raw pixel units; a constant channel gets std 1.
    """
    values = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for c in range(images.shape[1]):
        hist = torch.bincount(images[:, c].reshape(-1), minlength=256).double()
        mean = float((hist * values).sum() / hist.sum())
        std = float(((hist * (values - mean) ** 2).sum() / hist.sum()).sqrt())
        means.append(mean)
        stds.append(std if std > 1e-6 else 1.0)
    return tuple(means), tuple(stds)


def split_hash(
    name: str, content: Iterable[bytes | memoryview], labels: np.ndarray, parts: dict
) -> str:
    """sha256 over the dataset name, its content, the labels and every part's indices.

    Args:
        name: The registered dataset name.
        content: Byte chunks identifying the images (pixels, or file names and sizes).
        labels: Labels of every image ``(N,)``.
        parts: Index arrays by part name.

    Returns:
        64 hex characters.
    """
    digest = hashlib.sha256(name.encode() + b"\0")
    for chunk in content:
        digest.update(chunk)
    digest.update(np.ascontiguousarray(labels, dtype="<i8").data)
    for part in PARTS:
        digest.update(f"\0{part}\0".encode())
        digest.update(np.ascontiguousarray(parts[part], dtype="<i8").data)
    return digest.hexdigest()
