"""Trial parameters as a numeric frame a random forest can read, conditional ones included.

- A float or int parameter is one column, in log10 when its distribution is log-scaled. If
  some trial lacks it (a temperature sampled only when KD is on), those rows get a sentinel
  below the range (low minus the span) and a ``<name>[active]`` column says which rows have it.
- A categorical parameter is one ordinal column: the index of the choice in the distribution's
  choices, -1 where the trial lacks it (a tree splits the -1 off as it would an indicator).

Each parameter owns its column group, which the importances permute together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial
import pandas as pd

__all__ = ["Encoded", "distributions", "encode", "to_unit", "encode_value", "decode_value"]


@dataclass(frozen=True)
class Encoded:
    """The encoded frame and, per parameter, the columns it owns (its own column first)."""

    frame: pd.DataFrame
    groups: dict[str, list[str]]


def distributions(trials: Sequence[FrozenTrial]) -> dict[str, BaseDistribution]:
    """Each parameter's distribution, from the latest trial that has it."""
    out: dict[str, BaseDistribution] = {}
    for trial in trials:
        out.update(trial.distributions)
    return dict(sorted(out.items()))


def encode_value(dist: BaseDistribution, value: float) -> float:
    """A numeric value on the scale the analysis uses (log10 for log distributions)."""
    return math.log10(value) if getattr(dist, "log", False) else float(value)


def decode_value(dist: BaseDistribution, value: float) -> float:
    return 10.0**value if getattr(dist, "log", False) else float(value)


def to_unit(dist: BaseDistribution, value: float) -> float:
    """Where ``value`` lies in the range, 0 at low and 1 at high (log scale where log)."""
    low, high = encode_value(dist, dist.low), encode_value(dist, dist.high)  # type: ignore[attr-defined]
    return 0.5 if high == low else (encode_value(dist, value) - low) / (high - low)


def _choice_index(dist: CategoricalDistribution, trial: FrozenTrial, name: str) -> float:
    if name not in trial.params:
        return -1.0
    return float(dist.to_internal_repr(trial.params[name]))


def encode(trials: Sequence[FrozenTrial]) -> Encoded:
    """The frame of ``trials``' parameters, one row per trial, columns grouped per parameter."""
    columns: dict[str, np.ndarray] = {}
    groups: dict[str, list[str]] = {}
    for name, dist in distributions(trials).items():
        if isinstance(dist, CategoricalDistribution):
            columns[name] = np.array([_choice_index(dist, t, name) for t in trials])
            groups[name] = [name]
            continue
        active = np.array([name in t.params for t in trials])
        low, high = encode_value(dist, dist.low), encode_value(dist, dist.high)  # type: ignore[attr-defined]
        sentinel = low - max(high - low, 1.0)
        columns[name] = np.array(
            [
                encode_value(dist, t.params[name]) if on else sentinel
                for t, on in zip(trials, active, strict=True)
            ]
        )
        groups[name] = [name]
        if not active.all():
            columns[f"{name}[active]"] = active.astype(float)
            groups[name].append(f"{name}[active]")
    return Encoded(pd.DataFrame(columns, dtype=float), groups)
