"""Wide ResNets (Zagoruyko & Komodakis, 2016) for 32x32 images.

Zagoruyko and Komodakis, "Wide Residual Networks", BMVC 2016
(https://arxiv.org/abs/1605.07146): WRN-d-k has a 3x3 stem at 16 channels and three stages
of (d-4)/6 pre-activation blocks (BN-ReLU-conv, twice) at 16k, 32k and 64k channels, with a
1x1 conv shortcut where the shape changes and a final BN-ReLU. Dropout is not used.
"""

from __future__ import annotations

from torch import nn

from autokd.models._family import Knob
from autokd.models._family import he_init
from autokd.models._family import register_family
from autokd.models._family import register_variant

__all__ = ["WideResNet", "wrn"]


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus a shortcut (identity or 1x1 conv).

    As in the paper's reference code, a projection shortcut reads the pre-activated input.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = _conv3x3(c_out, c_out)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x):  # x: (B, C_in, H, W) -> (B, C_out, H / stride, W / stride)
        a = self.relu(self.bn1(x))
        y = self.conv2(self.relu(self.bn2(self.conv1(a))))
        return y + (x if self.shortcut is None else self.shortcut(a))


class WideResNet(nn.Module):
    """Stem conv, three pre-activation stages (stride 1, 2, 2), BN-ReLU, pool, linear head.

    Feature taps: ``stem``, ``stages.0`` (full resolution), ``stages.1`` (1/2), ``stages.2``
    (1/4, before the final BN-ReLU), ``neck`` (after it), ``pool``, ``head``.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        depth: Layers, 6n+4 for n blocks per stage.
        widen: The widening factor k.
    """

    def __init__(self, *, in_channels: int, num_classes: int, depth: int, widen: int) -> None:
        super().__init__()
        blocks = (depth - 4) // 6
        self.stem = _conv3x3(in_channels, 16)
        stages, prev = [], 16
        for i, c in enumerate((16 * widen, 32 * widen, 64 * widen)):
            stage = []
            for j in range(blocks):
                stage.append(PreActBlock(prev, c, 2 if i > 0 and j == 0 else 1))
                prev = c
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.neck = nn.Sequential(nn.BatchNorm2d(prev), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(prev, num_classes)
        he_init(self)

    def forward(self, x):  # x: (B, C_in, H, W) -> logits (B, K)
        x = self.neck(self.stages(self.stem(x)))  # (B, 64k, H / 4, W / 4)
        return self.head(self.pool(x).flatten(1))


@register_family(
    "wrn",
    width=Knob(2, choices=(1, 2, 4, 8, 10), kind="int", doc="widening factor k"),
    depth=Knob(16, choices=(10, 16, 22, 28, 40), kind="int", doc="layers, 6n+4"),
    summary="Wide ResNet WRN-depth-width (Zagoruyko & Komodakis 2016), pre-activation.",
)
def wrn(*, in_channels: int, num_classes: int, width: float = 2, depth: int = 16) -> WideResNet:
    """Wide ResNet WRN-depth-width (Zagoruyko & Komodakis 2016), pre-activation blocks.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        width: Widening factor k (stage channels 16k, 32k, 64k).
        depth: Layers, 6n+4 for n blocks per stage.

    Returns:
        The network.
    """
    return WideResNet(
        in_channels=in_channels, num_classes=num_classes, depth=depth, widen=int(width)
    )


for _depth, _widen in ((16, 1), (16, 2), (40, 1), (40, 2), (28, 10)):
    register_variant(
        f"wrn{_depth}_{_widen}",
        "wrn",
        width=_widen,
        depth=_depth,
        summary=f"WRN-{_depth}-{_widen} (Zagoruyko & Komodakis 2016).",
    )
