from __future__ import annotations

import torch

from autokd.engine import crop_flip
from autokd.engine import cutout
from autokd.engine import epoch_generator


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_crop_is_a_window_of_the_zero_padded_image() -> None:
    x = torch.randint(1, 255, (6, 3, 5, 5), dtype=torch.uint8)  # no zeros inside the images
    out = crop_flip(x, crop=2, flip=False, generator=_gen())
    assert out.dtype == torch.uint8 and out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(6):
        windows = [padded[b, :, i : i + 5, j : j + 5] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[b], w) for w in windows)
        # Channels move together: the zero (padding) pattern is the same in every channel.
        zeros = out[b] == 0
        assert torch.equal(zeros[0], zeros[1]) and torch.equal(zeros[0], zeros[2])


def test_crop_offsets_cover_every_position_uniformly() -> None:
    # One bright pixel in the centre of a 5x5 image; with crop 1 it lands at one of 3x3 places.
    x = torch.zeros(9000, 1, 5, 5, dtype=torch.uint8)
    x[:, :, 2, 2] = 255
    out = crop_flip(x, crop=1, flip=False, generator=_gen(1))
    where = out[:, 0].flatten(1).argmax(1)
    counts = torch.bincount(where, minlength=25).reshape(5, 5)
    assert counts.sum() == 9000 and counts[1:4, 1:4].sum() == 9000
    # Each of the 9 offsets has probability 1/9 (1000 expected; 5 sigma ~ 150).
    assert (counts[1:4, 1:4] - 1000).abs().max() < 150


def test_flip_mirrors_about_half() -> None:
    x = torch.arange(4000 * 4, dtype=torch.float32).reshape(4000, 1, 1, 4)
    out = crop_flip(x, crop=0, flip=True, generator=_gen(2))
    flipped = (out == x.flip(3)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert torch.all(flipped ^ kept)
    assert abs(flipped.float().mean().item() - 0.5) < 0.04  # 5 sigma for n=4000


def test_no_crop_no_flip_is_identity() -> None:
    x = torch.randint(0, 255, (4, 3, 6, 6), dtype=torch.uint8)
    assert torch.equal(crop_flip(x, crop=0, flip=False, generator=_gen()), x)


def test_cutout_zeroes_a_clipped_square() -> None:
    x = torch.ones(500, 2, 10, 10)
    out = cutout(x, size=4, generator=_gen(3))
    holes = out[:, 0] == 0
    assert torch.equal(holes, out[:, 1] == 0)  # every channel masked alike
    area = holes.flatten(1).sum(1)
    assert area.max() == 16 and area.min() >= 4  # a corner centre keeps a 2x2 quarter
    # The hole is a rectangle: its rows and columns span exactly its area.
    rows, cols = holes.any(2).sum(1), holes.any(1).sum(1)
    assert torch.equal(rows * cols, area)
    # Centre uniform over 10x10, side 4 (rows c-2..c+1): expected visible area per axis is
    # (sum over c of |[c-2, c+1] ∩ [0, 9]|) / 10 = (2 + 3 + 4*7 + 3) / 10 = 3.6, so 12.96.
    assert abs(area.float().mean().item() - 3.6 * 3.6) < 0.5
    assert torch.equal(cutout(x, size=0, generator=_gen()), x)


def test_epoch_generator_depends_on_seed_and_epoch_only() -> None:
    draw = lambda s, e: torch.rand(5, generator=epoch_generator(s, e, "cpu"))  # noqa: E731
    assert torch.equal(draw(0, 3), draw(0, 3))
    assert not torch.equal(draw(0, 3), draw(0, 4))
    assert not torch.equal(draw(0, 3), draw(1, 3))
    assert not torch.equal(draw(1, 0), draw(0, 1))  # not a function of seed + epoch
