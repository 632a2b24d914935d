"""Schedules: values (alpha, temperature, term weights) that change over training.

A schedule maps training progress ``p`` (the fraction of training done, in [0, 1]) to a value.
Each one is a registry entry, so a search space can sample the schedule and its parameters.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
import inspect
import math

from autokd._registry import Registry
from autokd._registry import closest
from autokd.exceptions import ConfigError

__all__ = [
    "SCHEDULES",
    "BaseSchedule",
    "ConstantSchedule",
    "CosineSchedule",
    "LinearSchedule",
    "StepSchedule",
    "WarmupSchedule",
    "build_schedule",
    "schedule_params",
]

SCHEDULES: Registry[type[BaseSchedule]] = Registry("schedule")


def _number(key: str, value: object) -> float:
    # bool is an int subclass, but ``alpha: true`` is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, "a finite number", repr(value))
    if not math.isfinite(value):
        raise ConfigError(key, "a finite number", repr(value))
    return float(value)


def _clamp(progress: float) -> float:
    return min(max(float(progress), 0.0), 1.0)


class BaseSchedule(abc.ABC):
    """A value as a function of training progress.

    Progress outside [0, 1] is clamped into it, so ``schedule(1.2) == schedule(1.0)``.
    """

    @abc.abstractmethod
    def __call__(self, progress: float) -> float:
        """Returns the value at ``progress``.

        Args:
            progress: Fraction of training done; clamped into [0, 1].

        Returns:
            The scheduled value.
        """

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


@SCHEDULES.register("constant")
class ConstantSchedule(BaseSchedule):
    """``value`` throughout training.

    Args:
        value: The value.

    Raises:
        ConfigError: If ``value`` is not a finite number.
    """

    def __init__(self, *, value: float) -> None:
        self.value = _number("value", value)

    def __call__(self, progress: float) -> float:  # the same value throughout
        return self.value


@SCHEDULES.register("linear")
class LinearSchedule(BaseSchedule):
    """Linear ramp: ``start + (end - start) * p``.

    Args:
        start: Value at the start of training (``p = 0``).
        end: Value at the end of training (``p = 1``).

    Raises:
        ConfigError: If ``start`` or ``end`` is not a finite number.
    """

    def __init__(self, *, start: float, end: float) -> None:
        self.start = _number("start", start)
        self.end = _number("end", end)

    def __call__(self, progress: float) -> float:
        p = _clamp(progress)
        return self.start + (self.end - self.start) * p


@SCHEDULES.register("cosine")
class CosineSchedule(BaseSchedule):
    """Half-cosine ramp: ``start + (end - start) * (1 - cos(pi * p)) / 2``.

    Flat at both ends and steepest halfway, where it passes the midpoint.

    Args:
        start: Value at the start of training (``p = 0``).
        end: Value at the end of training (``p = 1``).

    Raises:
        ConfigError: If ``start`` or ``end`` is not a finite number.
    """

    def __init__(self, *, start: float, end: float) -> None:
        self.start = _number("start", start)
        self.end = _number("end", end)

    def __call__(self, progress: float) -> float:
        p = _clamp(progress)
        return self.start + (self.end - self.start) * (1.0 - math.cos(math.pi * p)) / 2.0


@SCHEDULES.register("step")
class StepSchedule(BaseSchedule):
    """One step: ``start`` while ``p < at``, then ``end``.

    Args:
        start: Value before the step.
        end: Value from progress ``at`` on.
        at: Progress at which the value switches; strictly between 0 and 1.

    Raises:
        ConfigError: If a value is not a finite number, or ``at`` is outside (0, 1).
    """

    def __init__(self, *, start: float, end: float, at: float = 0.5) -> None:
        self.start = _number("start", start)
        self.end = _number("end", end)
        self.at = _number("at", at)
        if not 0.0 < self.at < 1.0:
            raise ConfigError("at", "a progress strictly between 0 and 1", repr(at))

    def __call__(self, progress: float) -> float:
        p = _clamp(progress)
        return self.start if p < self.at else self.end


@SCHEDULES.register("warmup")
class WarmupSchedule(BaseSchedule):
    """Linear warm-up from ``start`` to ``value``, then flat at ``value``.

    ``start + (value - start) * p / warmup`` while ``p < warmup``, then ``value``.

    Args:
        value: Value once warmed up (from progress ``warmup`` on).
        start: Value at the start of training (``p = 0``).
        warmup: Fraction of training the ramp takes; in (0, 1].

    Raises:
        ConfigError: If a value is not a finite number, or ``warmup`` is outside (0, 1].
    """

    def __init__(self, *, value: float, start: float = 0.0, warmup: float = 0.1) -> None:
        self.value = _number("value", value)
        self.start = _number("start", start)
        self.warmup = _number("warmup", warmup)
        if not 0.0 < self.warmup <= 1.0:
            raise ConfigError("warmup", "a fraction of training in (0, 1]", repr(warmup))

    def __call__(self, progress: float) -> float:
        p = _clamp(progress)
        if p >= self.warmup:
            return self.value
        return self.start + (self.value - self.start) * p / self.warmup


def schedule_params(name: str) -> tuple[str, ...]:
    """The keyword parameters of the schedule registered as ``name``.

    Args:
        name: A registered schedule name.

    Returns:
        Parameter names in signature order, e.g. ``("start", "end", "at")`` for ``step``.

    Raises:
        RegistryError: If ``name`` is not registered.
    """
    params = inspect.signature(SCHEDULES.get(name)).parameters.values()
    return tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY)


def _required_params(name: str) -> tuple[str, ...]:
    params = inspect.signature(SCHEDULES.get(name)).parameters.values()
    return tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty)


def build_schedule(spec: Mapping[str, object] | float | int) -> BaseSchedule:
    """Builds a schedule from its config form.

    Args:
        spec: A bare number (``4.0`` means ``{schedule: constant, value: 4.0}``) or a mapping
            ``{schedule: NAME, **params}``; ``schedule`` defaults to ``"constant"``.

    Returns:
        The schedule, a callable of training progress.

    Raises:
        ConfigError: With a key relative to ``spec``: ``schedule`` for an unknown name, the
            parameter name for an unknown, missing or invalid parameter (``at`` outside (0, 1)
            included), or ``""`` when ``spec`` is neither a number nor a mapping.

    Example:
        >>> build_schedule({"schedule": "linear", "start": 0.0, "end": 0.8})(0.5)
        0.4
        >>> build_schedule(4.0)(0.3)
        4.0
    """
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return ConstantSchedule(value=spec)
    if not isinstance(spec, Mapping):
        raise ConfigError("", "a number or a mapping {schedule: NAME, ...}", repr(spec))
    params = dict(spec)
    name = params.pop("schedule", "constant")
    if not isinstance(name, str) or name not in SCHEDULES:
        hint = closest(name, SCHEDULES.list()).strip() if isinstance(name, str) else ""
        raise ConfigError(
            "schedule", f"one of: {', '.join(SCHEDULES.list())}", repr(name), hint=hint
        )
    valid = schedule_params(name)
    for key, value in params.items():
        if key not in valid:
            hint = closest(str(key), valid).strip()
            raise ConfigError(
                str(key),
                f"one of the '{name}' parameters {', '.join(valid)}",
                repr(value),
                hint=hint,
            )
    for key in _required_params(name):
        if key not in params:
            raise ConfigError(key, f"a number (required by schedule '{name}')", "nothing")
    return SCHEDULES.get(name)(**params)  # type: ignore[arg-type]
