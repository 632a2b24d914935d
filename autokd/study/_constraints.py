"""What a sampled student costs (params, MACs, latency) and whether it fits the study's limits."""

from __future__ import annotations

import dataclasses
import statistics
import time

import torch

from autokd._rng import isolated_rng
from autokd.config._study import Constraints
from autokd.models import build_model
from autokd.models import model_info
from autokd.recipe import ModelSpec

__all__ = [
    "StudentCost",
    "check_constraints",
    "constraint_names",
    "measure_latency",
    "measure_student",
]

#: Timed forward passes whose median is the latency, and untimed ones before them.
LATENCY_REPEATS = 20
LATENCY_WARMUP = 5


@dataclasses.dataclass(frozen=True)
class StudentCost:
    """A student's parameters, MACs per sample and (when measured) latency in milliseconds."""

    params: int
    macs: int
    latency_ms: float | None = None

    def objective(self, name: str) -> float:
        """The value of a cost objective (``params``, ``macs`` or ``latency_ms``)."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"{name} was not measured")
        return float(value)


def measure_student(
    spec: ModelSpec,
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    device: torch.device,
    latency_batch: int | None = None,
) -> StudentCost:
    """Builds the student ``spec`` names and measures it, without training anything.

    Building draws initial weights from torch's CPU RNG; its state is restored after, and the
    build holds the global-RNG lock, so measuring a trial's student changes nothing in its
    training or in that of a trial starting in another thread.

    Args:
        spec: The student.
        input_shape: One image's shape ``(C, H, W)``.
        num_classes: Output classes.
        device: Where the latency is measured (the trial's training device).
        latency_batch: Batch size of the latency measurement; ``None``: no latency.
    """
    with isolated_rng():  # trials may be seeding the global RNG in other threads
        model = build_model(spec, in_channels=input_shape[0], num_classes=num_classes)
    info = model_info(model, input_shape)
    latency = None
    if latency_batch is not None:
        latency = measure_latency(model, input_shape, device=device, batch=latency_batch)
    return StudentCost(params=info.params, macs=info.macs, latency_ms=latency)


def measure_latency(
    model: torch.nn.Module,
    input_shape: tuple[int, ...],
    *,
    device: torch.device,
    batch: int = 1,
    repeats: int = LATENCY_REPEATS,
    warmup: int = LATENCY_WARMUP,
) -> float:
    """Median milliseconds of one forward pass of a ``batch`` in eval mode without grad.

    The model is moved to ``device`` (channels_last on CUDA, as the engine trains it); CUDA
    work is synchronised before each clock reading.
    """
    cuda = device.type == "cuda"
    fmt = torch.channels_last if cuda else torch.contiguous_format
    model = model.to(device, memory_format=fmt).eval()
    x = torch.zeros(batch, *input_shape, device=device).contiguous(memory_format=fmt)
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(x)
            if cuda:
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


#: (limit field, cost field, label, format) of each constraint, in the order recorded.
_LIMITS = (
    ("max_params", "params", "params", "{:,}"),
    ("max_macs", "macs", "MACs", "{:,}"),
    ("max_latency_ms", "latency_ms", "latency_ms", "{:.3f}"),
)


def check_constraints(cost: StudentCost, limits: Constraints) -> tuple[list[float], list[str]]:
    """Constraint values of ``cost`` under ``limits``, and one message per violated limit.

    Each value is ``value / limit - 1`` for each limit that is set, in the order max_params,
    max_macs, max_latency_ms: Optuna's convention (<= 0 feasible), scaled by the limit so a
    sampler that sums violations does not let MACs drown params.
    """
    values: list[float] = []
    messages: list[str] = []
    for limit_name, cost_name, label, fmt in _LIMITS:
        limit = getattr(limits, limit_name)
        if limit is None:
            continue
        value = getattr(cost, cost_name)
        if value is None:
            raise ValueError(f"{cost_name} was not measured")
        values.append(value / limit - 1.0)
        if value > limit:
            messages.append(
                f"student {label} {fmt.format(value)} > {limit_name} {fmt.format(limit)}"
            )
    return values, messages


def constraint_names(limits: Constraints) -> list[str]:
    """Names of the limits that are set, in the order :func:`check_constraints` records them."""
    return [name for name, *_ in _LIMITS if getattr(limits, name) is not None]
