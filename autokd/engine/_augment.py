"""Batched augmentation on device tensors, no per-sample Python.

Every random draw comes from one generator seeded by (recipe seed, epoch), so two trials with
the same seed and batch size see exactly the same augmented batches.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["crop_flip", "cutout", "epoch_generator"]


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
    b, c, h, w = x.shape
    dev = x.device
    if crop > 0:
        padded = F.pad(x, (crop, crop, crop, crop))
        dy = torch.randint(0, 2 * crop + 1, (b,), generator=generator, device=dev)
        dx = torch.randint(0, 2 * crop + 1, (b,), generator=generator, device=dev)
        rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]  # (B, 1, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]  # (B, 1, 1, W)
        batch = torch.arange(b, device=dev)[:, None, None, None]
        chan = torch.arange(c, device=dev)[None, :, None, None]
        x = padded[batch, chan, rows, cols]  # (B, C, H, W)
    if flip:
        mask = torch.rand(b, generator=generator, device=dev) < 0.5
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
    cy = torch.randint(0, h, (b, 1), generator=generator, device=dev)
    cx = torch.randint(0, w, (b, 1), generator=generator, device=dev)
    # Rows cy - size//2 .. cy - size//2 + size - 1, clipped by the comparison itself.
    top, left = cy - size // 2, cx - size // 2
    ys, xs = torch.arange(h, device=dev)[None], torch.arange(w, device=dev)[None]
    in_rows = (ys >= top) & (ys < top + size)  # (B, H)
    in_cols = (xs >= left) & (xs < left + size)  # (B, W)
    hole = in_rows[:, :, None] & in_cols[:, None, :]  # (B, H, W)
    return x.masked_fill(hole[:, None], 0.0)
