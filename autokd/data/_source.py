"""ImageSource: images read one at a time, for sets too large to hold in memory."""

from __future__ import annotations

import abc

import torch
from torch.utils.data import Dataset

__all__ = ["ImageSource"]


class ImageSource(Dataset[torch.Tensor], abc.ABC):
    """A sequence of uint8 ``(C, H, W)`` images, read lazily; labels live in ``Splits``.

    Subclasses must be picklable (plain attributes only), because DataLoader workers receive
    a pickled copy.
    """

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, int, int]:
        """The ``(C, H, W)`` shape every image has."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of images."""

    @abc.abstractmethod
    def __getitem__(self, index: int) -> torch.Tensor:
        """Image ``index`` as a uint8 ``(C, H, W)`` tensor."""
