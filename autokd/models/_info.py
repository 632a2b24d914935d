"""What a built model costs and which feature taps it offers: shapes, parameters, MACs."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["ModelInfo", "model_info", "probe_shapes"]


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """A model's feature taps with their shapes, its parameter count and its MACs.

    Args:
        stages: Tappable module name -> output shape without the batch dim, in call order.
        params: Number of parameters (trainable or not; buffers excluded).
        macs: Multiply-accumulates of one forward pass on one sample.
    """

    stages: dict[str, tuple[int, ...]]
    params: int
    macs: int

    def summary(self) -> str:
        """A few lines: params and MACs (exact and in millions), then each tap with its shape."""
        lines = [
            f"params {self.params:,} ({self.params / 1e6:.2f}M), "
            f"MACs {self.macs:,} ({self.macs / 1e6:.2f}M) per sample"
        ]
        width = max((len(n) for n in self.stages), default=0)
        for name, shape in self.stages.items():
            lines.append(f"  {name:<{width}}  {tuple(shape)}")
        return "\n".join(lines)


def model_info(model: nn.Module, input_shape: tuple[int, ...]) -> ModelInfo:
    """Measures ``model`` on an all-zero input of ``input_shape`` (one sample, no batch dim).

    MACs are half the FLOPs that ``torch.utils.flop_counter.FlopCounterMode`` counts for a
    batch of one in eval mode: convolutions, matrix products and their kin; element-wise
    work (BN, ReLU, pooling, bias additions) is not counted.

    Args:
        model: Any module taking a ``(B, *input_shape)`` batch; its mode is restored after.
        input_shape: One sample's shape, such as ``(3, 32, 32)``.

    Returns:
        The :class:`ModelInfo`.

    Example:
        >>> from autokd.models import build_model
        >>> from autokd.recipe import ModelSpec
        >>> net = build_model(ModelSpec(family="resnet8"), in_channels=3, num_classes=10)
        >>> list(model_info(net, (3, 32, 32)).stages)[:2]
        ['stem', 'stages.0']
    """
    stages = probe_shapes(model, tuple(input_shape))
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    try:
        model.eval()
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
    return ModelInfo(stages=stages, params=params, macs=counter.get_total_flops() // 2)


def probe_shapes(
    model: nn.Module, input_shape: tuple[int, ...], *, max_depth: int = 1
) -> dict[str, tuple[int, ...]]:
    """Output shapes (without the batch dim) of the model's tappable modules, in call order.

    Candidates are the model's direct children and, up to ``max_depth`` dots deep, the
    composite blocks inside them (``stages.1``, ``layer2.0``), not single layers such as a
    conv or a ReLU inside a block. A container whose output is the very tensor its last block
    returned is left out in favour of that block.

    Args:
        model: Any module taking a ``(B, *input_shape)`` batch.
        input_shape: One sample's shape, e.g. ``(1, 8, 8)``.
        max_depth: How deep in the module tree to look (``stages.1`` is depth 1).
    """
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in _candidates(model, max_depth):
        hook = (lambda n: lambda m, a, o: outputs.setdefault(n, o))(name)
        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, *input_shape))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    seen: dict[int, str] = {}
    for name, out in outputs.items():  # call order: children finish before their container
        if isinstance(out, torch.Tensor) and id(out) not in seen:
            seen[id(out)] = name
    keep = set(seen.values())
    return {n: tuple(o.shape[1:]) for n, o in outputs.items() if n in keep}


def _candidates(model: nn.Module, max_depth: int):
    for name, module in model.named_modules():
        depth = name.count(".")
        if not name or depth > max_depth:
            continue
        if depth == 0 or any(True for _ in module.children()):
            yield name, module
