"""VGG with batch norm (Simonyan & Zisserman, 2015), in the CIFAR benchmark's layout.

Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015 (https://arxiv.org/abs/1409.1556): five groups of 3x3 convolutions
(64, 128, 256, 512, 512 channels) separated by 2x2 max-pooling. As in the CRD benchmark
(Tian et al., ICLR 2020), each conv is followed by BN and ReLU, the last group by global
average pooling, and the classifier is one linear layer; vgg8 has one conv per group.
"""

from __future__ import annotations

from torch import nn

from autokd.models._family import Knob
from autokd.models._family import he_init
from autokd.models._family import register_family
from autokd.models._family import register_variant
from autokd.models._family import scaled

__all__ = ["VGG", "vgg"]

_CHANNELS = (64, 128, 256, 512, 512)
#: Convolutions per group for each depth (vgg8 is the CRD benchmark's smallest student).
_CONVS = {
    8: (1, 1, 1, 1, 1),
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}


def _group(c_in: int, c_out: int, convs: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for _ in range(convs):
        # Convolutions keep their bias, as in the paper and the benchmark's code.
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        c_in = c_out
    return layers


class VGG(nn.Module):
    """The first conv group as stem, four max-pool + conv-group stages, pool, linear head.

    Feature taps: ``stem`` (full resolution), ``stages.0`` .. ``stages.3`` (1/2 .. 1/16),
    ``pool``, ``head``. Max-pooling rounds up (``ceil_mode``), so inputs as small as 8x8
    reach the last stage at 1x1 while 32x32 inputs keep the usual 16/8/4/2.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        width: Channel multiplier.
        convs: Convolutions in each of the five groups.
    """

    def __init__(
        self, *, in_channels: int, num_classes: int, width: float, convs: tuple[int, ...]
    ) -> None:
        super().__init__()
        channels = [scaled(c, width) for c in _CHANNELS]
        self.stem = nn.Sequential(*_group(in_channels, channels[0], convs[0]))
        stages = []
        for i in range(1, 5):
            pool = nn.MaxPool2d(2, ceil_mode=True)
            stages.append(nn.Sequential(pool, *_group(channels[i - 1], channels[i], convs[i])))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(channels[-1], num_classes)
        he_init(self)

    def forward(self, x):  # x: (B, C_in, H, W) -> logits (B, K)
        x = self.stages(self.stem(x))  # (B, 512 * width, H / 16, W / 16)
        return self.head(self.pool(x).flatten(1))


@register_family(
    "vgg",
    width=Knob(1.0, low=0.25, high=2.0, doc="multiplier on 64..512 channels"),
    depth=Knob(13, choices=tuple(_CONVS), kind="int", doc="vgg8/11/13/16/19 conv layout"),
    summary="VGG with BN (Simonyan & Zisserman 2015), CIFAR layout.",
)
def vgg(*, in_channels: int, num_classes: int, width: float = 1.0, depth: int = 13) -> VGG:
    """VGG with BN (Simonyan & Zisserman 2015), CIFAR layout: 5 conv groups, 1 linear layer.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        width: Multiplier on the 64, 128, 256, 512, 512 group channels.
        depth: The layout: 8, 11, 13, 16 or 19 (convs per group as in ``_CONVS``).

    Returns:
        The network.
    """
    return VGG(in_channels=in_channels, num_classes=num_classes, width=width, convs=_CONVS[depth])


for _depth in _CONVS:
    register_variant(
        f"vgg{_depth}",
        "vgg",
        width=1.0,
        depth=_depth,
        summary=f"VGG-{_depth} with BN (Simonyan & Zisserman 2015), CIFAR layout.",
    )
