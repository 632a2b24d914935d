"""Paired differences over seeds: hand-computed t-intervals and verdicts."""

from __future__ import annotations

import math

import pytest

from autokd.benchmark import lr_grid
from autokd.benchmark import paired_difference

# Student-t quantiles t(0.975, df) from printed tables (not from the code under test).
T975 = {2: 4.3027, 4: 2.7764}


def test_interval_matches_a_hand_computed_case() -> None:
    # Rule: mean ± t(0.975, n-1) * sd / sqrt(n) of the per-seed differences.
    # diffs 0.02, 0.01, 0.05: mean 0.08/3, sd sqrt(0.00086667 / 2) = 0.0208167.
    diff = paired_difference([0.90, 0.92, 0.95], [0.88, 0.91, 0.90])
    assert diff.n == 3
    assert diff.mean == pytest.approx(0.0266667, abs=1e-6)
    assert diff.std == pytest.approx(0.0208167, abs=1e-6)
    assert diff.half_width == pytest.approx(T975[2] * 0.0208167 / math.sqrt(3), abs=1e-5)
    assert diff.low == pytest.approx(0.0266667 - 0.0517123, abs=1e-5)
    assert diff.verdict == "level"  # the interval holds 0


def test_verdicts_follow_the_interval() -> None:
    # Rule: better when the interval lies above 0, worse below, level when it holds 0.
    better = paired_difference([0.92, 0.93, 0.925], [0.90, 0.90, 0.90])  # diffs .02 .03 .025
    assert better.half_width == pytest.approx(T975[2] * 0.005 / math.sqrt(3), abs=1e-6)
    assert better.low > 0 and better.verdict == "better"
    worse = paired_difference([0.90] * 5, [0.91, 0.92, 0.915, 0.912, 0.918])
    assert worse.half_width == pytest.approx(T975[4] * worse.std / math.sqrt(5), rel=1e-4)
    assert worse.high < 0 and worse.verdict == "worse"
    # Identical results on every seed: a zero-width interval at 0, level.
    same = paired_difference([0.9, 0.8], [0.9, 0.8])
    assert (same.mean, same.half_width, same.verdict) == (0.0, 0.0, "level")


def test_bad_pairs_raise() -> None:
    # Rule: a paired interval needs equal lengths and at least two pairs.
    with pytest.raises(ValueError, match="equal lengths"):
        paired_difference([0.9, 0.8], [0.9])
    with pytest.raises(ValueError, match="at least 2"):
        paired_difference([0.9], [0.8])


def test_lr_grid_is_log_spaced() -> None:
    # Rule: K values evenly spaced in log scale over the searched range, else lr/4 .. 4 lr.
    assert lr_grid(0.1, 3, None) == pytest.approx([0.025, 0.1, 0.4])
    assert lr_grid(0.1, 3, (0.01, 1.0)) == pytest.approx([0.01, 0.1, 1.0])
    assert lr_grid(0.07, 1, (0.01, 1.0)) == [0.07]
    grid = lr_grid(0.05, 5, (0.01, 0.3))
    ratios = [b / a for a, b in zip(grid, grid[1:], strict=False)]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-4)
