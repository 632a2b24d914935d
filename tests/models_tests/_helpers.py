"""Shared helpers of the model tests: build a family, record the output shapes of taps."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from autokd.models import build_model
from autokd.recipe import ModelSpec


def build(family: str, *, in_channels: int = 3, num_classes: int = 10, **spec: Any) -> nn.Module:
    torch.manual_seed(0)
    return build_model(
        ModelSpec(family=family, **spec), in_channels=in_channels, num_classes=num_classes
    )


def tap_shapes(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[str, tuple]:
    """Output shapes (without batch) of the named modules for one forward pass of ``x``."""
    modules = dict(model.named_modules())
    shapes: dict[str, tuple] = {}
    hooks = [
        modules[n].register_forward_hook(
            lambda m, a, o, n=n: shapes.__setitem__(n, tuple(o.shape[1:]))
        )
        for n in names
    ]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return shapes


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Parameter counts of single layers, from their definitions.
def conv(k: int, c_in: int, c_out: int, *, groups: int = 1, bias: bool = False) -> int:
    return k * k * (c_in // groups) * c_out + (c_out if bias else 0)


def bn(c: int) -> int:
    return 2 * c  # weight and bias (running statistics are buffers)


def linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out
