"""Decoding image files to uint8 tensors, and the lazily decoding ImageFolderSource."""

from __future__ import annotations

from pathlib import Path
import re

import numpy as np
import torch

from autokd.data._source import ImageSource
from autokd.exceptions import ConfigError

__all__ = ["IMAGE_SUFFIXES", "ImageFolderSource", "decode_file"]

# torchvision decodes these itself; Pillow (a torchvision dependency) reads the others.
_TORCHVISION_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
_PILLOW_SUFFIXES = frozenset({".bmp", ".tif", ".tiff", ".ppm", ".pgm"})
#: File suffixes (lower case) taken as images; other files are ignored.
IMAGE_SUFFIXES = _TORCHVISION_SUFFIXES | _PILLOW_SUFFIXES


def decode_file(path: Path, *, channels: int, image_size: int | None) -> torch.Tensor:
    """Reads one image as uint8 ``(channels, H, W)``, resized when asked.

    Args:
        path: An image file (see ``IMAGE_SUFFIXES``).
        channels: 1 (grey) or 3 (RGB); images are converted as needed, alpha dropped.
        image_size: Resize to ``image_size`` x ``image_size`` with antialiasing; None keeps
            the file's size.

    Returns:
        The image tensor.

    Raises:
        ConfigError: Naming the file, if it cannot be decoded.
    """
    try:
        image = _decode(path, channels)
    except (RuntimeError, OSError, ValueError) as exc:
        line = (str(exc).strip().splitlines() or [""])[0]
        reason = re.sub(r"^.*?\.cpp:\d+, ", "", line)  # drop torchvision's source location
        raise ConfigError(
            "",
            "an image file that can be decoded",
            f"an undecodable file ({reason})",
            file=str(path),
        ) from None
    image = _with_channels(image, channels)
    if image_size is not None and tuple(image.shape[1:]) != (image_size, image_size):
        from torchvision.transforms.v2 import functional as F

        image = F.resize(image, [image_size, image_size], antialias=True)
    return image.contiguous()


def _decode(path: Path, channels: int) -> torch.Tensor:
    if path.suffix.lower() in _TORCHVISION_SUFFIXES:
        from torchvision.io import ImageReadMode
        from torchvision.io import decode_image
        from torchvision.io import read_file

        mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
        image = decode_image(read_file(str(path)), mode=mode)
        return image[0] if image.dim() == 4 else image  # an animated GIF: its first frame
    from PIL import Image

    with Image.open(path) as pil:
        array = np.array(pil.convert("L" if channels == 1 else "RGB"))  # (H, W) or (H, W, 3)
    return torch.from_numpy(array.reshape(array.shape[0], array.shape[1], -1)).permute(2, 0, 1)


def _with_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey <-> RGB and alpha removal, for decoders that ignore the requested mode (GIF)."""
    have = image.shape[0]
    if have in (2, 4):  # drop alpha
        image, have = image[: have - 1], have - 1
    if have == channels:
        return image
    if channels == 3:
        return image.expand(3, -1, -1)
    from torchvision.transforms.v2 import functional as F

    return F.rgb_to_grayscale(image)


class ImageFolderSource(ImageSource):
    """Images decoded from files on each access (an ImageFolder too large for memory).

    Args:
        root: The folder the file paths are relative to.
        files: Relative paths, in item order.
        shape: The ``(C, H, W)`` every image must have after decoding and resizing.
        image_size: Passed to :func:`decode_file`.
    """

    def __init__(
        self,
        root: str,
        files: list[str],
        *,
        shape: tuple[int, int, int],
        image_size: int | None,
    ) -> None:
        self.root = root
        self.files = files
        self._shape = shape
        self.image_size = image_size

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._shape

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        path = Path(self.root) / self.files[index]
        image = decode_file(path, channels=self._shape[0], image_size=self.image_size)
        check_size(image, path, self._shape)
        return image


def check_size(image: torch.Tensor, path: Path, shape: tuple[int, ...]) -> None:
    """Raises ConfigError (key ``data.image_size``) if ``image`` is not of ``shape``."""
    if tuple(image.shape) != tuple(shape):
        raise ConfigError(
            "data.image_size",
            f"images of one size, {shape[1]}x{shape[2]} as the first (set data.image_size to "
            "resize them all)",
            f"{image.shape[1]}x{image.shape[2]} in {path}",
        )
