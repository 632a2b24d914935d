"""Objective fidelity: candidate objectives from a curve, rank agreement with fresh seeds."""

from __future__ import annotations

import numpy as np
import pytest

from autokd.benchmark._fidelity import candidate_objectives
from autokd.benchmark._fidelity import rank_agreement

HISTORY = [
    {"val_acc": 0.80, "val_loss": 0.9},
    {"val_acc": 0.90, "val_loss": 0.5},
    {"val_acc": 0.94, "val_loss": 0.3},
    {"val_acc": 0.92, "val_loss": 0.25},
]


def test_candidates_from_a_hand_written_curve() -> None:
    # Rule: last val_acc, the mean of the last k, minus the last NLL, val_acc - 1e-6 * NLL.
    got = candidate_objectives(HISTORY, k=3)
    assert got["val_acc"] == 0.92
    assert got["val_acc_last_k"] == pytest.approx((0.90 + 0.94 + 0.92) / 3)
    assert got["neg_val_nll"] == -0.25
    assert got["val_acc_nll_tiebreak"] == pytest.approx(0.92 - 2.5e-7)


def test_tie_break_orders_only_equal_accuracies() -> None:
    # Rule: the NLL decides between equal accuracies and never overturns one image of 1000.
    a = candidate_objectives([{"val_acc": 0.950, "val_loss": 0.1}])["val_acc_nll_tiebreak"]
    b = candidate_objectives([{"val_acc": 0.950, "val_loss": 0.4}])["val_acc_nll_tiebreak"]
    c = candidate_objectives([{"val_acc": 0.949, "val_loss": 0.01}])["val_acc_nll_tiebreak"]
    assert a > b > c


def test_rank_agreement_on_a_synthetic_study_with_a_known_ranking() -> None:
    # Rule: a study value that orders recipes as their fresh-seed accuracy does gets rho 1 and
    # no regret; the reversed order gets rho -1 and the full regret; noise lowers rho.
    rng = np.random.default_rng(0)
    truth = np.linspace(0.80, 0.95, 20)  # the recipes' fresh-seed accuracy, known
    exact = rank_agreement(truth + 0.001, truth)
    assert (exact.rho, exact.regret, exact.n) == (1.0, 0.0, 20)
    assert exact.low == pytest.approx(1.0) and exact.high == pytest.approx(1.0)  # every resample
    reversed_ = rank_agreement(-truth, truth)
    assert reversed_.rho == -1.0 and reversed_.regret == pytest.approx(0.15)
    noisy = rank_agreement(truth + rng.normal(0, 0.03, 20), truth)
    assert 0.3 < noisy.rho < 1.0 and noisy.low < noisy.rho < noisy.high
    # Hand-computed Spearman for 4 recipes: ranks (1,2,3,4) vs (2,1,3,4): d^2 = 2, rho = 0.8.
    assert rank_agreement([1, 2, 3, 4], [0.2, 0.1, 0.3, 0.4]).rho == pytest.approx(0.8)


def test_rank_agreement_needs_three_recipes() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        rank_agreement([0.9, 0.8], [0.9, 0.8])
