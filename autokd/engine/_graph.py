"""The frozen teacher as one compiled, side-effect-free function of the image batch.

With the teacher online (features beyond the cache's budget, or the first trial of a study),
its forward is most of a KD step: resnet32x4 is about 2x resnet8x4's forward and backward
together. ``torch.compile`` speeds that forward up (fused BatchNorm/ReLU/add, prepacked conv
weights), but the eager teacher reports its features through forward hooks that write to a
dict and may raise to stop early: side effects that break a compiled graph. So the teacher is
traced with ``torch.fx`` into a graph whose outputs are the tapped modules' outputs (and the
logits), then compiled. The graph is built and compiled once per process for each (teacher,
device, layout, outputs, batch size) and shared by every run: it is pure, so concurrent trials
may call it. A teacher that ``torch.fx`` cannot trace (data-dependent control flow) runs
eagerly, as before.

Results equal the eager teacher's up to float rounding (compiled kernels sum in another
order), so the teacher cache keeps entries of compiled and eager teachers apart.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import threading

import torch
from torch import fx
from torch import nn
import torch.nn.functional as F

__all__ = ["TeacherGraph", "teacher_graph"]

_logger = logging.getLogger(__name__)
_GRAPHS: dict[tuple, TeacherGraph | None] = {}
_LOCK = threading.Lock()


class TeacherGraph:
    """``graph(x) -> (logits or None, {tapped module: output})``, compiled.

    Batches smaller than ``batch_size`` (an epoch's last) are padded with zero images, so
    one compiled graph serves the whole run; the padded rows are dropped. The teacher is in
    eval mode, so each row's output does not depend on the others.
    """

    def __init__(self, module: fx.GraphModule, names: tuple[str, ...], logits: bool) -> None:
        self.names, self.logits = names, logits
        self._fn = torch.compile(module, dynamic=False)

    def __call__(self, x: torch.Tensor, batch_size: int):
        b = x.shape[0]
        if b < batch_size:
            fmt = torch.channels_last if _is_channels_last(x) else torch.contiguous_format
            x = F.pad(x, (0, 0, 0, 0, 0, 0, 0, batch_size - b)).contiguous(memory_format=fmt)
        logits, feats = self._fn(x)
        return (logits[:b] if self.logits else None), {
            name: f[:b] for name, f in zip(self.names, feats, strict=True)
        }


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)


def teacher_graph(
    make_teacher: Callable[[], nn.Module],
    *,
    key: tuple,
    names: list[str],
    logits: bool,
) -> TeacherGraph | None:
    """The compiled graph of ``teacher`` for these outputs, made once per process per ``key``.

    Args:
        make_teacher: Returns the frozen teacher on its device and layout, without hooks
            (called only when the graph is made; it keeps references to the modules, so it
            must be a copy no run attaches taps to).
        key: What identifies the teacher's weights, device and layout (the caller's); the
            outputs are added to it.
        names: Modules whose outputs the graph returns.
        logits: Whether it returns the logits too (else it ends at the deepest tapped layer).

    Returns:
        The graph, or None when ``torch.fx`` cannot trace the teacher (it then runs eagerly).
    """
    names_t = tuple(dict.fromkeys(names))
    full_key = (*key, names_t, logits)
    with _LOCK:
        if full_key not in _GRAPHS:
            try:
                module = _trace(make_teacher(), names_t, logits)
            except Exception as exc:  # noqa: BLE001 - any tracing failure means "run it eagerly"
                _logger.info("teacher not traceable by torch.fx (%s); it runs eagerly", exc)
                _GRAPHS[full_key] = None
            else:
                _GRAPHS[full_key] = TeacherGraph(module, names_t, logits)
        return _GRAPHS[full_key]


def _trace(teacher: nn.Module, names: tuple[str, ...], logits: bool) -> fx.GraphModule:
    """A GraphModule returning ``(logits or None, (output of each named module, ...))``."""
    leaves = set(names)

    class _Tracer(fx.Tracer):
        # Tapped modules stay single calls, so their outputs are single nodes.
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return qualname in leaves or super().is_leaf_module(m, qualname)

    graph = _Tracer().trace(teacher)
    calls: dict[str, list[fx.Node]] = {}
    for node in graph.nodes:
        if node.op == "call_module" and node.target in leaves:
            calls.setdefault(str(node.target), []).append(node)
    for name in names:
        found = len(calls.get(name, []))
        if found != 1:
            raise ValueError(f"module '{name}' is called {found} times in forward, not once")
    output = next(node for node in graph.nodes if node.op == "output")
    result = output.args[0]
    if logits and not isinstance(result, fx.Node):
        raise ValueError("the forward does not return one tensor")
    output.args = ((result if logits else None, tuple(calls[name][0] for name in names)),)
    module = fx.GraphModule(teacher, graph)
    module.graph.eliminate_dead_code()  # without the logits, everything after the last tap goes
    module.recompile()
    module.eval()
    return module
