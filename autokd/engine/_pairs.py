"""Layer pairs for feature losses: probe tap shapes once, propose compatible pairs.

Any named module of any model can be tapped (unmodified torchvision models included). The
shapes come from one forward pass of a dummy batch; a pair is proposed when the loss can be
built from the two shapes (its projector bridges the channels) and the spatial sizes agree,
so the search picks among stage-aligned pairs rather than every combination.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import itertools
from typing import Any

from torch import nn

from autokd._rng import isolated_rng
from autokd.exceptions import AutokdError
from autokd.models import probe_shapes

__all__ = ["build_pair_losses", "probe_shapes", "propose_pairs"]


def build_pair_losses(
    loss_cls: type,
    pairs: Sequence[tuple[str, str]],
    teacher_shapes: Mapping[str, tuple[int, ...]],
    student_shapes: Mapping[str, tuple[int, ...]],
    *,
    projector: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> list[nn.Module]:
    """The loss modules of one term: one per pair, or one reading every pair jointly.

    A loss with ``joint_pairs`` gets all teacher layers, student layers and shapes as tuples;
    any other loss gets one instance per pair (or one without layers when there is no pair,
    as for logit losses). Draws from torch's RNG like any module construction.

    Raises:
        AutokdError, RuntimeError, ValueError: If the loss cannot be built from the shapes.
    """
    extra = {"projector": projector, **(params or {})}
    if loss_cls.joint_pairs is not None:
        t_layers = tuple(t for t, _ in pairs)
        s_layers = tuple(s for _, s in pairs)
        return [
            loss_cls(
                teacher_layer=t_layers,
                student_layer=s_layers,
                teacher_shape=tuple(teacher_shapes.get(t) for t in t_layers),
                student_shape=tuple(student_shapes.get(s) for s in s_layers),
                **extra,
            )
        ]
    return [
        loss_cls(
            teacher_layer=t,
            student_layer=s,
            teacher_shape=teacher_shapes.get(t),
            student_shape=student_shapes.get(s),
            **extra,
        )
        for t, s in (pairs or [(None, None)])
    ]


def propose_pairs(
    loss_cls: type,
    teacher_shapes: dict[str, tuple[int, ...]],
    student_shapes: dict[str, tuple[int, ...]],
    *,
    max_joint: int = 3,
) -> list[str]:
    """``"teacher -> student"`` pairs the loss accepts, with equal spatial size (or both flat).

    Each candidate is tried by building the loss from the shapes (in a forked RNG, so nothing
    is drawn from the caller's); a candidate whose build fails is not proposed. A loss that
    reads several pairs jointly (``joint_pairs``) gets combinations of aligned pairs, in call
    order and with at most ``max_joint`` pairs, joined by ``;``.
    """
    aligned = [
        (t, s)
        for t, t_shape in teacher_shapes.items()
        for s, s_shape in student_shapes.items()
        if len(t_shape) == len(s_shape) and t_shape[1:] == s_shape[1:]
    ]
    joint = getattr(loss_cls, "joint_pairs", None)
    if joint is None:
        groups = [[pair] for pair in aligned]
    else:
        low, high = joint
        sizes = range(low, min(high or max_joint, max_joint) + 1)
        groups = [
            list(combo)
            for size in sizes
            for combo in itertools.combinations(aligned, size)
            if _increasing(combo, teacher_shapes, student_shapes)
        ]
    proposals = []
    for group in groups:
        try:
            with isolated_rng():
                build_pair_losses(loss_cls, group, teacher_shapes, student_shapes)
        except (AutokdError, RuntimeError, ValueError):
            continue
        proposals.append("; ".join(f"{t} -> {s}" for t, s in group))
    return proposals


def _increasing(combo, teacher_shapes, student_shapes) -> bool:
    """Each pair strictly deeper than the previous one on both sides (call order)."""
    t_order, s_order = list(teacher_shapes), list(student_shapes)
    t_idx = [t_order.index(t) for t, _ in combo]
    s_idx = [s_order.index(s) for _, s in combo]
    return all(a < b for a, b in itertools.pairwise(t_idx)) and all(
        a < b for a, b in itertools.pairwise(s_idx)
    )
