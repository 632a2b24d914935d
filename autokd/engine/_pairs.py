"""Layer pairs for feature losses: probe tap shapes once, propose compatible pairs.

Any named module of any model can be tapped (unmodified torchvision models included). The
shapes come from one forward pass of a dummy batch; a pair is proposed when the loss can be
built from the two shapes (its projector bridges the channels) and the spatial sizes agree,
so the search picks among stage-aligned pairs rather than every combination.
"""

from __future__ import annotations

import itertools

import torch

from autokd.exceptions import AutokdError
from autokd.models import probe_shapes

__all__ = ["probe_shapes", "propose_pairs"]


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
        t_names, s_names = [t for t, _ in group], [s for _, s in group]
        kwargs = {
            "teacher_layer": t_names[0],
            "student_layer": s_names[0],
            "teacher_shape": teacher_shapes[t_names[0]],
            "student_shape": student_shapes[s_names[0]],
        }
        if joint is not None:
            kwargs = {
                "teacher_layer": tuple(t_names),
                "student_layer": tuple(s_names),
                "teacher_shape": tuple(teacher_shapes[t] for t in t_names),
                "student_shape": tuple(student_shapes[s] for s in s_names),
            }
        try:
            with torch.random.fork_rng(devices=[]):
                loss_cls(**kwargs)
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
