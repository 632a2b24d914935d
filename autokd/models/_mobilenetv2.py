"""MobileNetV2 (Sandler et al., 2018) with CIFAR strides.

Sandler, Howard, Zhu, Zhmoginov and Chen, "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018 (https://arxiv.org/abs/1801.04381), Table 2: a 3x3 stem at 32
channels, seven stages of inverted-residual bottlenecks (expansion t, channels c, repeats n,
stride s) and a 1x1 conv to 1280 channels. For 32x32 images the stem and the second stage
keep stride 1 (total stride 8 instead of 32); channels scale as ``int(c * width)`` and every
later stage expands by 6, as in the CRD benchmark's student (Tian et al., ICLR 2020).
"""

from __future__ import annotations

from torch import nn

from autokd.models._family import Knob
from autokd.models._family import he_init
from autokd.models._family import register_family
from autokd.models._family import register_variant

__all__ = ["MobileNetV2", "mobilenetv2"]

#: (expansion t, channels c, repeats n, stride s) per stage; Table 2 with CIFAR strides.
_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]


class InvertedResidual(nn.Module):
    """1x1 expand (skipped when t = 1), 3x3 depthwise, 1x1 linear projection; a residual
    connection when stride is 1 and channels stay (Sandler et al., 2018, Table 1)."""

    def __init__(self, c_in: int, c_out: int, *, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [*_conv_bn(c_in, hidden, 1), nn.ReLU6()]
        layers += [*_conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6()]
        layers += _conv_bn(hidden, c_out, 1)
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):  # x: (B, C_in, H, W) -> (B, C_out, H / stride, W / stride)
        y = self.conv(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """Stem, seven bottleneck stages, 1x1 conv neck, global pool, linear head.

    Feature taps: ``stem``, ``stages.0`` .. ``stages.6`` (stages 0-1 at full resolution,
    2 at 1/2, 3-4 at 1/4, 5-6 at 1/8), ``neck``, ``pool``, ``head``.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        width: Channel multiplier.
        max_blocks: Cap on each stage's repeats.
    """

    def __init__(
        self, *, in_channels: int, num_classes: int, width: float, max_blocks: int
    ) -> None:
        super().__init__()
        prev = max(1, int(32 * width))
        self.stem = nn.Sequential(*_conv_bn(in_channels, prev, 3), nn.ReLU6())
        stages = []
        for t, c, n, s in _SETTINGS:
            c_out, blocks = max(1, int(c * width)), []
            for j in range(min(n, max_blocks)):
                blocks.append(
                    InvertedResidual(prev, c_out, stride=s if j == 0 else 1, expansion=t)
                )
                prev = c_out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        last = int(1280 * width) if width > 1.0 else 1280
        self.neck = nn.Sequential(*_conv_bn(prev, last, 1), nn.ReLU6())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(last, num_classes)
        he_init(self)

    def forward(self, x):  # x: (B, C_in, H, W) -> logits (B, K)
        x = self.neck(self.stages(self.stem(x)))  # (B, 1280, H / 8, W / 8)
        return self.head(self.pool(x).flatten(1))


@register_family(
    "mobilenetv2",
    width=Knob(1.0, low=0.25, high=2.0, doc="channel multiplier"),
    depth=Knob(4, low=1, high=4, kind="int", doc="most blocks per stage (1,2,3,4,3,3,1 capped)"),
    summary="MobileNetV2 (Sandler et al. 2018), CIFAR strides.",
)
def mobilenetv2(
    *, in_channels: int, num_classes: int, width: float = 1.0, depth: int = 4
) -> MobileNetV2:
    """MobileNetV2 (Sandler et al. 2018) with CIFAR strides; width scales every channel count.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        width: Channel multiplier (the 1280-channel neck only grows, for width > 1).
        depth: Cap on the repeats (1, 2, 3, 4, 3, 3, 1) of the seven stages; 4 is the paper's.

    Returns:
        The network.
    """
    return MobileNetV2(
        in_channels=in_channels, num_classes=num_classes, width=width, max_blocks=depth
    )


register_variant(
    "mobilenetv2_x0_5",
    "mobilenetv2",
    width=0.5,
    depth=4,
    summary="MobileNetV2 at width 0.5, the MobileNetV2 student of the CRD benchmark.",
)
