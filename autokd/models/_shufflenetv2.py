"""ShuffleNetV2 (Ma et al., 2018) for small images.

Ma, Zhang, Zheng and Sun, "ShuffleNet V2: Practical Guidelines for Efficient CNN
Architecture Design", ECCV 2018 (https://arxiv.org/abs/1807.11164): units that split the
channels in half, transform one half (1x1 conv, 3x3 depthwise, 1x1 conv), concatenate and
shuffle (Fig. 3c); a downsampling unit transforms both copies of its input (Fig. 3d). Table
5 gives the channels of each width. For 32x32 images the stem is a stride-1 3x3 conv and the
max-pool is left out.
"""

from __future__ import annotations

import torch
from torch import nn

from autokd.models._family import Knob
from autokd.models._family import he_init
from autokd.models._family import register_family

__all__ = ["ShuffleNetV2", "shufflenetv2"]

#: Table 5: output channels of stages 2-4 and of conv5, per width multiplier.
_CHANNELS = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}
_STEM = 24


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]


def _branch(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    # 1x1 conv-BN-ReLU, 3x3 depthwise conv-BN (no ReLU), 1x1 conv-BN-ReLU.
    return nn.Sequential(
        *_conv_bn(c_in, c_out, 1),
        nn.ReLU(),
        *_conv_bn(c_out, c_out, 3, stride, groups=c_out),
        *_conv_bn(c_out, c_out, 1),
        nn.ReLU(),
    )


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleaves the channels of ``groups`` groups (Zhang et al., 2018, ShuffleNet).

    Args:
        x: ``(B, C, H, W)`` with C divisible by ``groups``.
        groups: Number of groups.

    Returns:
        ``(B, C, H, W)``, channel ``g * C/groups + i`` moved to ``i * groups + g``.
    """
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleUnit(nn.Module):
    """A basic unit (stride 1, Fig. 3c) or a downsampling unit (stride 2, Fig. 3d)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        half = c_out // 2
        self.stride = stride
        self.left: nn.Module = nn.Identity()  # the untouched half of a basic unit
        if stride != 1:
            left = [*_conv_bn(c_in, c_in, 3, stride, groups=c_in), *_conv_bn(c_in, half, 1)]
            self.left = nn.Sequential(*left, nn.ReLU())
        self.right = _branch(c_in if stride != 1 else half, half, stride)

    def forward(self, x):  # x: (B, C_in, H, W) -> (B, C_out, H / stride, W / stride)
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
        else:
            a = b = x
        return channel_shuffle(torch.cat([self.left(a), self.right(b)], dim=1), 2)


class ShuffleNetV2(nn.Module):
    """Stem, three stages (each opens with a downsampling unit), 1x1 conv neck, pool, head.

    Feature taps: ``stem`` (full resolution), ``stages.0`` .. ``stages.2`` (1/2, 1/4, 1/8),
    ``neck``, ``pool``, ``head``.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        channels: Stage channels and the neck's, from Table 5.
        blocks: Units per stage.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        channels: tuple[int, ...],
        blocks: tuple[int, int, int],
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(in_channels, _STEM, 3), nn.ReLU())
        stages, prev = [], _STEM
        for c, n in zip(channels[:3], blocks, strict=True):
            units = [ShuffleUnit(prev, c, 2)] + [ShuffleUnit(c, c, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*units))
            prev = c
        self.stages = nn.Sequential(*stages)
        self.neck = nn.Sequential(*_conv_bn(prev, channels[3], 1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels[3], num_classes)
        he_init(self)

    def forward(self, x):  # x: (B, C_in, H, W) -> logits (B, K)
        x = self.neck(self.stages(self.stem(x)))  # (B, C5, H / 8, W / 8)
        return self.head(self.pool(x).flatten(1))


@register_family(
    "shufflenetv2",
    width=Knob(1.0, choices=tuple(_CHANNELS), doc="Table 5 width"),
    depth=Knob(3, low=1, high=6, kind="int", doc="units per stage (d, 2d+1, d)"),
    summary="ShuffleNetV2 (Ma et al. 2018), stride-1 stem for small images.",
)
def shufflenetv2(
    *, in_channels: int, num_classes: int, width: float = 1.0, depth: int = 3
) -> ShuffleNetV2:
    """ShuffleNetV2 (Ma et al. 2018) with a stride-1 stem; depth 3 gives the paper's 3/7/3.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        width: 0.5, 1.0, 1.5 or 2.0 (the channel rows of the paper's Table 5).
        depth: Units per stage are (depth, 2 * depth + 1, depth).

    Returns:
        The network.
    """
    return ShuffleNetV2(
        in_channels=in_channels,
        num_classes=num_classes,
        channels=_CHANNELS[float(width)],
        blocks=(depth, 2 * depth + 1, depth),
    )
