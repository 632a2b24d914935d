"""A multilayer perceptron on the (pooled) image, with width and depth knobs.

The classic fully connected baseline (Rumelhart, Hinton and Williams, "Learning
representations by back-propagating errors", Nature 1986): Linear-ReLU hidden layers and a
linear classifier. So that the parameter count does not depend on the image size, the image
is first average-pooled to a ``grid x grid`` map (``grid=8`` by default; a pooling to the
image's own size is the identity) and flattened.
"""

from __future__ import annotations

from torch import nn

from autokd.models._family import Knob
from autokd.models._family import register_family
from autokd.models._family import scaled

__all__ = ["MLP", "mlp"]

_HIDDEN = 256


class MLP(nn.Module):
    """Pool + flatten + Linear-ReLU ``stem``, ``depth - 1`` Linear-ReLU ``stages``, ``head``.

    Feature taps (all 2-D, ``(B, hidden)``): ``stem``, ``stages.0`` .. ``stages.{depth-2}``;
    ``head`` gives the logits.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        hidden: Units of each hidden layer.
        layers: Hidden layers.
        grid: Side of the pooled image that is flattened.
    """

    def __init__(
        self, *, in_channels: int, num_classes: int, hidden: int, layers: int, grid: int
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.AdaptiveAvgPool2d(grid),
            nn.Flatten(),
            nn.Linear(in_channels * grid * grid, hidden),
            nn.ReLU(),
        )
        self.stages = nn.Sequential(
            *(nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU()) for _ in range(layers - 1))
        )
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):  # x: (B, C_in, H, W) -> logits (B, K)
        return self.head(self.stages(self.stem(x)))  # hidden: (B, hidden)


@register_family(
    "mlp",
    width=Knob(1.0, low=0.125, high=8.0, doc="multiplier on 256 hidden units"),
    depth=Knob(2, low=1, high=8, kind="int", doc="hidden layers"),
    summary="MLP on the image pooled to grid x grid (default 8): Linear-ReLU layers.",
)
def mlp(
    *, in_channels: int, num_classes: int, width: float = 1.0, depth: int = 2, grid: int = 8
) -> MLP:
    """MLP on the image pooled to grid x grid (default 8): Linear-ReLU layers, linear head.

    Args:
        in_channels: Image channels.
        num_classes: Output classes.
        width: Multiplier on 256 hidden units.
        depth: Hidden layers.
        grid: The image is average-pooled to ``grid x grid`` before flattening.

    Returns:
        The network.
    """
    return MLP(
        in_channels=in_channels,
        num_classes=num_classes,
        hidden=scaled(_HIDDEN, width),
        layers=depth,
        grid=grid,
    )
