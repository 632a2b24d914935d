"""A small CNN family with width and depth knobs and stable stage names."""

from __future__ import annotations

from torch import nn

from autokd.models._family import Knob
from autokd.models._family import register_family

_BASE_CHANNELS = (16, 32, 64)


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


class ConvNet(nn.Module):
    """Three stages of 3x3 conv blocks; each later stage halves the resolution.

    Named modules usable as feature taps: ``stem``, ``stages.0``, ``stages.1``, ``stages.2``
    (outputs ``(B, C, H, W)`` at full, 1/2 and 1/4 resolution), ``pool`` (``(B, C, 1, 1)``) and
    ``head`` (logits). The names do not depend on width or depth, so a layer pair stays valid
    while the search varies the student.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        width: Channel multiplier on (16, 32, 64).
        depth: Conv blocks per stage.
    """

    def __init__(self, *, in_channels: int, num_classes: int, width: float, depth: int) -> None:
        super().__init__()
        channels = [max(4, round(c * width)) for c in _BASE_CHANNELS]
        self.stem = _conv_bn_relu(in_channels, channels[0])
        stages: list[nn.Module] = []
        prev = channels[0]
        for i, c in enumerate(channels):
            blocks: list[nn.Module] = [nn.MaxPool2d(2)] if i > 0 else []
            for _ in range(depth):
                blocks.append(_conv_bn_relu(prev, c))
                prev = c
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(prev, num_classes)

    def forward(self, x):  # x: (B, C_in, H, W) -> logits (B, K)
        x = self.stages(self.stem(x))
        return self.head(self.pool(x).flatten(1))


@register_family(
    "cnn",
    width=Knob(1.0, low=0.25, high=8.0, doc="multiplier on 16/32/64 channels"),
    depth=Knob(1, low=1, high=8, kind="int", doc="conv blocks per stage"),
    summary="Small CNN: 3 stages of 3x3 conv-BN-ReLU blocks.",
)
def cnn(*, in_channels: int, num_classes: int, width: float = 1.0, depth: int = 1) -> ConvNet:
    """CNN: 3 stages; width multiplies (16, 32, 64) channels, depth = conv blocks per stage.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        width: Channel multiplier on (16, 32, 64).
        depth: Conv blocks per stage.

    Returns:
        The network.
    """
    return ConvNet(in_channels=in_channels, num_classes=num_classes, width=width, depth=depth)
