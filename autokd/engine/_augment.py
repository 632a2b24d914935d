"""Batched augmentation on device tensors, no per-sample Python.

Every random draw of an epoch comes from one generator seeded by (recipe seed, epoch) and is
made once per sample at the start of the epoch (:func:`draw_epoch`): the order, each image's
crop offset, flip and cutout centre. An image's view therefore depends on (seed, epoch, its
index, the augmentation settings) only, not on the batch size or on the batch it lands in,
which is what lets a study compute the frozen teacher's output for a view once and share it
between trials (see :mod:`autokd.engine._cache`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["EpochDraws", "crop_flip", "cutout", "draw_epoch", "epoch_generator"]


def epoch_generator(seed: int, epoch: int, device: torch.device | str) -> torch.Generator:
    """A generator on ``device`` seeded from ``(seed, epoch)`` (numpy's SeedSequence mixing).

    The same pair always gives the same stream, and nearby pairs give unrelated streams.
    """
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


def crop_flip(
    x: torch.Tensor, *, crop: int, flip: bool, generator: torch.Generator
) -> torch.Tensor:
    """Random crop after zero padding by ``crop`` pixels per side, then an optional h-flip.

    Works on raw pixels of any dtype (uint8 included), before normalisation, so the padding is
    black as in the usual CIFAR recipe (pad 4, crop 32).

    Args:
        x: Images ``(B, C, H, W)``.
        crop: Padding per side; the crop offset is uniform in ``[0, 2 * crop]`` on each axis.
        flip: Mirror each image left-right with probability 1/2.
        generator: Source of randomness on ``x``'s device.

    Returns:
        A new ``(B, C, H, W)`` tensor of ``x``'s dtype.
    """
    b = x.shape[0]
    dev = x.device
    dy = dx = mask = None
    if crop > 0:
        dy = torch.randint(0, 2 * crop + 1, (b,), generator=generator, device=dev)
        dx = torch.randint(0, 2 * crop + 1, (b,), generator=generator, device=dev)
    if flip:
        mask = torch.rand(b, generator=generator, device=dev) < 0.5
    return _crop_flip_at(x, crop, dy, dx, mask)


def _crop_flip_at(
    x: torch.Tensor,
    crop: int,
    dy: torch.Tensor | None,
    dx: torch.Tensor | None,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """Crops each image at its offsets ``(dy, dx)`` after padding by ``crop``; flips ``mask``."""
    b, c, h, w = x.shape
    dev = x.device
    if crop > 0:
        padded = F.pad(x, (crop, crop, crop, crop))
        rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]  # (B, 1, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]  # (B, 1, 1, W)
        batch = torch.arange(b, device=dev)[:, None, None, None]
        chan = torch.arange(c, device=dev)[None, :, None, None]
        x = padded[batch, chan, rows, cols]  # (B, C, H, W)
    if mask is not None:
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def cutout(x: torch.Tensor, *, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zeroes one ``size`` x ``size`` square per image at a uniformly random centre.

    DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with Cutout"
    (2017): the centre may lie anywhere in the image and the square is clipped at the borders,
    so some holes are partly outside. Applied to normalised images (0 is the mean colour).

    Args:
        x: Normalised images ``(B, C, H, W)``.
        size: Side of the square; 0 returns ``x`` unchanged.
        generator: Source of randomness on ``x``'s device.
    """
    if size <= 0:
        return x
    b, _, h, w = x.shape
    dev = x.device
    cy = torch.randint(0, h, (b,), generator=generator, device=dev)
    cx = torch.randint(0, w, (b,), generator=generator, device=dev)
    return _cutout_at(x, size, cy, cx)


def _cutout_at(x: torch.Tensor, size: int, cy: torch.Tensor, cx: torch.Tensor) -> torch.Tensor:
    """Zeroes the ``size`` x ``size`` square centred at ``(cy, cx)`` of each image."""
    _, _, h, w = x.shape
    dev = x.device
    # Rows cy - size//2 .. cy - size//2 + size - 1, clipped by the comparison itself.
    top, left = (cy - size // 2)[:, None], (cx - size // 2)[:, None]
    ys, xs = torch.arange(h, device=dev)[None], torch.arange(w, device=dev)[None]
    in_rows = (ys >= top) & (ys < top + size)  # (B, H)
    in_cols = (xs >= left) & (xs < left + size)  # (B, W)
    hole = in_rows[:, :, None] & in_cols[:, None, :]  # (B, H, W)
    return x.masked_fill(hole[:, None], 0.0)


@dataclasses.dataclass(frozen=True)
class EpochDraws:
    """One epoch's random draws, one row per training image (indexed by image, not position).

    Attributes:
        order: The visiting order, a permutation of the ``n`` image indices.
        dy, dx: Crop offsets in ``[0, 2 * crop]`` (None without crop).
        flip: Which images are mirrored (None without flip).
        cy, cx: Cutout centres (None without cutout).
    """

    order: torch.Tensor
    dy: torch.Tensor | None = None
    dx: torch.Tensor | None = None
    flip: torch.Tensor | None = None
    cy: torch.Tensor | None = None
    cx: torch.Tensor | None = None

    def views(
        self, raw: torch.Tensor, idx: torch.Tensor, *, crop: int, cutout: int, normalise
    ) -> torch.Tensor:
        """The normalised, augmented views of the raw images ``raw`` (image indices ``idx``).

        Crop and flip act on raw pixels (black padding), cutout on normalised ones (0 is the
        mean colour), as in :func:`crop_flip` and :func:`cutout`.
        """
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        x = _crop_flip_at(raw, crop, pick(self.dy), pick(self.dx), pick(self.flip))
        x = normalise(x)
        if cutout > 0:
            x = _cutout_at(x, cutout, self.cy[idx], self.cx[idx])
        return x


def draw_epoch(
    n: int,
    image_size: tuple[int, int],
    *,
    crop: int,
    flip: bool,
    cutout: int,
    generator: torch.Generator,
) -> EpochDraws:
    """Draws an epoch's order and every image's augmentation from ``generator``, in one go.

    The draws are made in a fixed sequence (order, crop rows, crop columns, flips, cutout
    rows, cutout columns), each of length ``n``, so they depend only on the generator's
    seed, ``n`` and the settings.
    """
    dev = generator.device
    h, w = image_size
    order = torch.randperm(n, generator=generator, device=dev)
    dy = dx = mask = cy = cx = None
    if crop > 0:
        dy = torch.randint(0, 2 * crop + 1, (n,), generator=generator, device=dev)
        dx = torch.randint(0, 2 * crop + 1, (n,), generator=generator, device=dev)
    if flip:
        mask = torch.rand(n, generator=generator, device=dev) < 0.5
    if cutout > 0:
        cy = torch.randint(0, h, (n,), generator=generator, device=dev)
        cx = torch.randint(0, w, (n,), generator=generator, device=dev)
    return EpochDraws(order=order, dy=dy, dx=dx, flip=mask, cy=cy, cx=cx)
