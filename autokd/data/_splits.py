"""Splits: the train / validation / test parts of a dataset as raw uint8 pixels."""

from __future__ import annotations

import dataclasses

import torch

from autokd.data._source import ImageSource
from autokd.exceptions import AutokdError

__all__ = ["Splits"]

Images = torch.Tensor | ImageSource


@dataclasses.dataclass(frozen=True)
class Splits:
    """Train / validation / test images with their labels and the train statistics.

    Images stay raw: uint8 ``(N, C, H, W)`` tensors in memory, or an :class:`ImageSource`
    that reads them lazily. :meth:`normalise` turns a batch into float32 on its device, so a
    GPU-resident uint8 set costs a quarter of a float one. Labels are int64 ``(N,)`` tensors,
    always in memory.

    Attributes:
        mean: Per-channel mean of the train part, in raw pixel units (0..255; digits 0..16).
        std: Per-channel standard deviation of the train part, in the same units.
        split_hash: sha256 (64 hex) of the dataset content and the split; equal hashes mean
            the same images in the same parts.
        classes: Class names by label, where the dataset has them.

    Example:
        >>> from autokd.data import load_splits
        >>> from autokd.recipe import DataSpec
        >>> splits = load_splits(DataSpec(name="digits"))
        >>> splits.image_shape, splits.num_classes, splits.train_x.dtype
        ((1, 8, 8), 10, torch.uint8)
        >>> splits.normalise(splits.first(4)).dtype
        torch.float32
    """

    train_x: Images
    train_y: torch.Tensor
    val_x: Images
    val_y: torch.Tensor
    test_x: Images
    test_y: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    split_hash: str
    classes: tuple[str, ...] | None = None
    # (mean, std) as (C, 1, 1) float32 tensors, per device; filled by normalise.
    _stats: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for part in ("train", "val", "test"):
            x, y = getattr(self, f"{part}_x"), getattr(self, f"{part}_y")
            if isinstance(x, torch.Tensor) and (x.dtype != torch.uint8 or x.dim() != 4):
                raise AutokdError(
                    f"Splits.{part}_x must be a uint8 (N, C, H, W) tensor or an ImageSource, "
                    f"but got {x.dtype} of shape {tuple(x.shape)}."
                )
            if len(x) != len(y):
                raise AutokdError(
                    f"Splits.{part}_x holds {len(x)} images but {part}_y {len(y)} labels."
                )

    @property
    def in_memory(self) -> bool:
        """True when the images are tensors, False when they are streamed."""
        return isinstance(self.train_x, torch.Tensor)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every image."""
        if isinstance(self.train_x, torch.Tensor):
            c, h, w = self.train_x.shape[1:]
            return int(c), int(h), int(w)
        return self.train_x.shape

    @property
    def in_channels(self) -> int:
        """The number of image channels."""
        return self.image_shape[0]

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Standardises raw images per channel with the train statistics.

        Args:
            x: uint8 (or float, in raw pixel units) ``(B, C, H, W)`` or ``(C, H, W)``.

        Returns:
            float32 ``(x - mean) / std`` on ``x``'s device.
        """
        stats = self._stats.get(x.device)
        if stats is None:
            shape = (len(self.mean), 1, 1)
            mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(shape)
            std = torch.tensor(self.std, dtype=torch.float32, device=x.device).view(shape)
            stats = self._stats[x.device] = (mean, std)
        return (x.float() - stats[0]) / stats[1]

    def to(self, device: torch.device | str) -> Splits:
        """A copy with every tensor (in-memory images and all labels) on ``device``.

        Args:
            device: The target device.

        Returns:
            New Splits; streamed images stay streamed.
        """
        moved = {
            f.name: value.to(device)
            for f in dataclasses.fields(self)
            if f.init and isinstance(value := getattr(self, f.name), torch.Tensor)
        }
        return dataclasses.replace(self, **moved)

    def first(self, n: int) -> torch.Tensor:
        """The first ``n`` training images as uint8 ``(n, C, H, W)``, for shape probes.

        Args:
            n: How many images (fewer when the train part is smaller).

        Returns:
            A uint8 tensor, on the device of the in-memory images (CPU when streamed).
        """
        if isinstance(self.train_x, torch.Tensor):
            return self.train_x[:n]
        count = min(n, len(self.train_x))
        return torch.stack([self.train_x[i] for i in range(count)])
