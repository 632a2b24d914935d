"""Batches for training and evaluation, from in-memory tensors or a streamed image source.

Sets that fit in memory live on the training device as uint8 tensors: a batch is one index
gather, with no host round trip. Larger sets (ImageFolder scale) stream through a DataLoader
with workers and pinned memory; their batches go to the device without blocking. Both kinds
yield raw uint8 batches in the same order for the same generator, and the engine augments and
normalises them on the device.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset

if TYPE_CHECKING:
    from autokd.data import Splits

__all__ = ["eval_batches", "train_batches"]


class _Indexed(Dataset):
    """Item ``i`` of a source as ``(image, i)``: labels stay on the device, looked up by index."""

    def __init__(self, source: Dataset) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.source[i], i


def _loader(source, batches: list[list[int]], device: torch.device, workers: int) -> DataLoader:
    return DataLoader(
        _Indexed(source),
        batch_sampler=batches,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers > 0 else None,
    )


def train_batches(
    splits: Splits,
    *,
    batch_size: int,
    order: torch.Tensor,
    device: torch.device,
    num_workers: int = 2,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch of ``(x_uint8, y, indices)`` batches on ``device``, visiting ``order``.

    ``order`` is the epoch's permutation of the training indices (from
    :func:`~autokd.engine._augment.draw_epoch`), so in-memory and streamed sets visit samples
    in the same order. The last batch may be smaller.
    """
    n = len(splits.train_y)
    if splits.in_memory:
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            yield splits.train_x[idx], splits.train_y[idx], idx
        return
    chunks = [c.tolist() for c in order.cpu().split(batch_size)]
    for x, idx in _loader(splits.train_x, chunks, device, num_workers):
        idx = idx.to(device, non_blocking=True)
        yield x.to(device, non_blocking=True), splits.train_y[idx], idx


def eval_batches(
    x: torch.Tensor | Dataset,
    y: torch.Tensor,
    *,
    batch_size: int,
    device: torch.device,
    num_workers: int = 2,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x_uint8, y)`` batches in order, on ``device``, from a tensor or a streamed source."""
    n = len(y)
    if isinstance(x, torch.Tensor):
        for i in range(0, n, batch_size):
            yield x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        return
    chunks = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    for xb, idx in _loader(x, chunks, device, num_workers):
        yield xb.to(device, non_blocking=True), y[idx.to(y.device)].to(device)
