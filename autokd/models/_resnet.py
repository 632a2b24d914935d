"""CIFAR ResNets (He et al., 2016) with the distillation benchmark's named variants.

He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
(https://arxiv.org/abs/1512.03385), Section 4.2: a 3x3 stem and three stages of ``n`` basic
blocks at 16, 32 and 64 channels, 6n+2 layers. As in the CRD benchmark (Tian et al., ICLR
2020, https://arxiv.org/abs/1910.10699), a block whose shape changes takes a 1x1 conv + BN
projection shortcut, and the ``x4`` variants use 32 stem and 64/128/256 stage channels.
"""

from __future__ import annotations

from torch import nn

from autokd.models._family import Knob
from autokd.models._family import he_init
from autokd.models._family import register_family
from autokd.models._family import register_variant
from autokd.models._family import scaled

__all__ = ["CifarResNet", "resnet"]

_DEPTHS = (8, 14, 20, 32, 44, 56, 110)


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus a shortcut, then ReLU (He et al., 2016, Fig. 2 left)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = _conv3x3(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:  # projection shortcut ("option B")
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):  # x: (B, C_in, H, W) -> (B, C_out, H / stride, W / stride)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class CifarResNet(nn.Module):
    """Stem, three stages of basic blocks (stride 1, 2, 2), global pool and linear head.

    Feature taps: ``stem`` and ``stages.0`` at full resolution, ``stages.1`` at 1/2,
    ``stages.2`` at 1/4, ``pool`` ``(B, C, 1, 1)``, ``head`` (logits).

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        stem_channels: Channels of the stem conv.
        stage_channels: Channels of the three stages.
        blocks: Basic blocks per stage.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        stem_channels: int,
        stage_channels: tuple[int, int, int],
        blocks: int,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            _conv3x3(in_channels, stem_channels), nn.BatchNorm2d(stem_channels), nn.ReLU()
        )
        stages, prev = [], stem_channels
        for i, c in enumerate(stage_channels):
            strides = [1 if i == 0 else 2] + [1] * (blocks - 1)
            stage = []
            for s in strides:
                stage.append(BasicBlock(prev, c, s))
                prev = c
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(prev, num_classes)
        he_init(self)

    def forward(self, x):  # x: (B, C_in, H, W) -> logits (B, K)
        x = self.stages(self.stem(x))  # (B, C, H / 4, W / 4)
        return self.head(self.pool(x).flatten(1))


@register_family(
    "resnet",
    width=Knob(1.0, low=0.25, high=4.0, doc="multiplier on 16/32/64 channels"),
    depth=Knob(20, choices=_DEPTHS, kind="int", doc="layers, 6n+2"),
    summary="CIFAR ResNet (He et al. 2016): 3 stages of basic blocks.",
)
def resnet(
    *,
    in_channels: int,
    num_classes: int,
    width: float = 1.0,
    depth: int = 20,
    stem_channels: int | None = None,
) -> CifarResNet:
    """CIFAR ResNet (He et al. 2016): 3 stages of (depth-2)/6 basic blocks at 16/32/64*width.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        width: Multiplier on the 16 stem and 16/32/64 stage channels.
        depth: Layers, 6n+2 for n blocks per stage.
        stem_channels: Stem channels when not 16*width (the x4 variants use 32).

    Returns:
        The network.
    """
    return CifarResNet(
        in_channels=in_channels,
        num_classes=num_classes,
        stem_channels=scaled(16, width) if stem_channels is None else stem_channels,
        stage_channels=(scaled(16, width), scaled(32, width), scaled(64, width)),
        blocks=(depth - 2) // 6,
    )


for _depth in _DEPTHS:
    register_variant(
        f"resnet{_depth}",
        "resnet",
        width=1.0,
        depth=_depth,
        summary=f"CIFAR ResNet-{_depth} (He et al. 2016): 16/32/64 channels.",
    )
for _depth in (8, 32):
    register_variant(
        f"resnet{_depth}x4",
        "resnet",
        width=4.0,
        depth=_depth,
        stem_channels=32,
        summary=f"ResNet-{_depth}x4 of the CRD benchmark (Tian et al. 2020): 32 stem, "
        "64/128/256 channels.",
    )
