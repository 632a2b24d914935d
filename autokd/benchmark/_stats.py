"""Paired comparisons over seeds: the mean difference, its t-interval, and a verdict."""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import math
import statistics

from scipy import stats

__all__ = ["PairedDifference", "paired_difference"]


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """``a - b`` over paired seeds, with a two-sided t-interval for its mean.

    Attributes:
        n: Number of seed pairs.
        mean: Mean of the per-seed differences.
        std: Sample standard deviation of the differences (0 for n = 1).
        half_width: Half the interval's width: ``t(1 - (1 - confidence) / 2, n - 1) * std /
            sqrt(n)``.
        confidence: The interval's coverage (0.95 by default).
        verdict: ``better`` (the interval lies above 0), ``worse`` (below 0), ``level``.
    """

    n: int
    mean: float
    std: float
    half_width: float
    confidence: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "level"


def paired_difference(
    a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95
) -> PairedDifference:
    """The mean of ``a[i] - b[i]`` and its Student-t confidence interval over the n pairs.

    The differences are treated as n independent draws (one per seed), so the interval is
    ``mean ± t_{n-1} * sd / sqrt(n)`` (e.g. t = 4.303 for n = 3, 2.776 for n = 5 at 95%).

    Raises:
        ValueError: If the sequences differ in length or hold fewer than 2 pairs.
    """
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    n = len(a)
    if n < 2:
        raise ValueError(f"a paired interval needs at least 2 pairs, got {n}")
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    std = statistics.stdev(diffs)
    t = float(stats.t.ppf(1.0 - (1.0 - confidence) / 2.0, n - 1))
    return PairedDifference(
        n=n,
        mean=statistics.fmean(diffs),
        std=std,
        half_width=t * std / math.sqrt(n),
        confidence=confidence,
    )
