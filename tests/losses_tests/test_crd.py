"""CRD: NCE formula, memory banks, Z, gradients, RNG, in-batch fallback, a real training run."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
import torch

from autokd.engine import train_recipe
from autokd.exceptions import ConfigError
from autokd.exceptions import TrialSetupError
from autokd.losses import LOSSES
from autokd.losses import DistillInputs
from autokd.losses._crd import CRDLoss
from autokd.losses._crd import nce_loss
from autokd.recipe import Recipe
from tests.conftest import digits_teacher

EPS = 1e-7  # the NCE eps of the authors' code

# ---- numpy reference (float64), written from the paper's formulas -------------------------


def _np_unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def np_nce(x: np.ndarray, n: int) -> float:
    """Tian et al.: -mean_b [log P(x_b0) + sum_k log(1 - P(x_bk))], P(x) = x / (x + K/N + eps)."""
    k = x.shape[1] - 1
    p = x / (x + k / n + EPS)
    return float(-(np.log(p[:, 0]) + np.log(1 - p[:, 1:]).sum(axis=1)).mean())


def np_side(anchor: np.ndarray, bank: np.ndarray, rows: np.ndarray, t: float, z: float | None):
    """Scores exp(<anchor_b, bank[rows_b]> / t) / Z; Z = mean(scores) * N when not given."""
    scores = np.exp(np.einsum("bd,bkd->bk", anchor, bank[rows]) / t)  # (B, 1 + K)
    if z is None:
        z = scores.mean() * len(bank)
    return scores / z, z


# ---- helpers -----------------------------------------------------------------------------


def _loss(s_dim: int = 3, t_dim: int = 4, **params: Any) -> CRDLoss:
    return CRDLoss(
        teacher_layer="t",
        student_layer="s",
        teacher_shape=(t_dim,),
        student_shape=(s_dim,),
        **params,
    )


def _inputs(
    s: torch.Tensor,
    t: torch.Tensor,
    indices: list[int] | None = None,
    num_samples: int | None = None,
) -> DistillInputs:
    b = s.shape[0]
    logits = torch.zeros(b, 10)
    return DistillInputs(
        student_logits=logits,
        teacher_logits=logits,
        targets=torch.zeros(b, dtype=torch.long),
        student_feats={"s": s},
        teacher_feats={"t": t},
        temperature=1.0,
        indices=None if indices is None else torch.tensor(indices),
        num_samples=num_samples,
    )


def _np_embed(loss: CRDLoss, s: torch.Tensor, t: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    def head(lin: torch.nn.Linear, x: torch.Tensor) -> np.ndarray:
        w, bias = lin.weight.detach().double().numpy(), lin.bias.detach().double().numpy()
        return _np_unit(x.detach().double().numpy() @ w.T + bias)

    return head(loss.embed_s, s), head(loss.embed_t, t)


# ---- tests -------------------------------------------------------------------------------


def test_nce_loss_hand_computed() -> None:
    # Rule: K = 1, N = 2, so K * Pn = 1/2. Row 1: x = (3/2, 1/2): P(pos) = 3/4,
    # 1 - P(neg) = 1/2. Row 2: x = (1, 1): P(pos) = 2/3, 1 - P(neg) = 1/3. Mean over rows.
    x = torch.tensor([[1.5, 0.5], [1.0, 1.0]], dtype=torch.float64)
    expected = -(math.log(3 / 4) + math.log(1 / 2) + math.log(2 / 3) + math.log(1 / 3)) / 2
    assert nce_loss(x.log(), num_samples=2).item() == pytest.approx(expected, rel=1e-6)


def test_nce_loss_sums_negatives_and_scales_pn_with_n() -> None:
    # Rule: K = 2 negatives at N = 4 (K * Pn = 1/2); the negatives' terms add up.
    x = torch.tensor([[0.5, 0.5, 1.5]], dtype=torch.float64)
    expected = -(math.log(0.5 / 1.0) + math.log(0.5 / 1.0) + math.log(0.5 / 2.0))
    assert nce_loss(x.log(), num_samples=4).item() == pytest.approx(expected, rel=1e-6)


def test_nce_loss_finite_for_huge_scores() -> None:
    # Rule: log-space math keeps the loss finite when exp(score) overflows float32.
    log_x = torch.tensor([[500.0, -500.0, 800.0]], requires_grad=True)
    out = nce_loss(log_x, num_samples=10)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(log_x.grad).all()


def test_two_steps_match_numpy_reference() -> None:
    # Rule: with N = 2 the one negative of each anchor is the other sample, so the whole step
    # (bank scores, Z from the first batch, NCE of both sides, momentum update) is checkable;
    # the second step reuses the first step's Z and the updated banks.
    torch.manual_seed(0)
    loss = _loss(feat_dim=3, nce_t=0.5, momentum=0.25)
    loss.init_memory(2, "cpu")
    bank_s = _np_unit(np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0]]))
    bank_t = _np_unit(np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]]))
    loss.bank_s.copy_(torch.from_numpy(bank_s))
    loss.bank_t.copy_(torch.from_numpy(bank_t))
    gen = torch.Generator().manual_seed(1)
    z_s = z_t = None
    for step in range(2):
        s, t = torch.randn(2, 3, generator=gen), torch.randn(2, 4, generator=gen)
        idx = [1, 0] if step == 0 else [0, 1]
        e_s, e_t = _np_embed(loss, s, t)
        rows = np.array([[i, 1 - i] for i in idx])  # positive first, then the other sample
        x_s, z_s = np_side(e_s, bank_t, rows, 0.5, z_s)
        x_t, z_t = np_side(e_t, bank_s, rows, 0.5, z_t)
        expected = np_nce(x_s, 2) + np_nce(x_t, 2)
        got = loss(_inputs(s, t, idx, 2)).item()
        assert got == pytest.approx(expected, rel=1e-5), step
        bank_s[idx] = _np_unit(0.25 * bank_s[idx] + 0.75 * e_s)
        bank_t[idx] = _np_unit(0.25 * bank_t[idx] + 0.75 * e_t)
        np.testing.assert_allclose(loss.bank_s.numpy(), bank_s, atol=1e-6)
        np.testing.assert_allclose(loss.bank_t.numpy(), bank_t, atol=1e-6)
        assert loss.log_z_s.item() == pytest.approx(math.log(z_s), abs=1e-5)
        assert loss.log_z_t.item() == pytest.approx(math.log(z_t), abs=1e-5)


def test_banks_created_lazily_as_buffers() -> None:
    # Rule: no bank before a step with indices (nor after one without); then two (N, feat_dim)
    # float32 buffers without grad, not parameters, and a Z for each side.
    loss = _loss(feat_dim=16)
    s, t = torch.randn(4, 3), torch.randn(4, 4)
    loss(_inputs(s, t))
    assert loss.bank_s is None and loss.bank_t is None and loss.log_z_s is None
    loss(_inputs(s, t, [0, 3, 5, 9], 10))
    for bank in (loss.bank_s, loss.bank_t):
        assert bank.shape == (10, 16) and bank.dtype == torch.float32
        assert not bank.requires_grad
    buffers = dict(loss.named_buffers())
    assert {"bank_s", "bank_t", "log_z_s", "log_z_t"} <= set(buffers)
    assert {n for n, _ in loss.named_parameters()} == {
        "embed_s.weight",
        "embed_s.bias",
        "embed_t.weight",
        "embed_t.bias",
    }


def test_bank_init_range() -> None:
    # Rule: rows start uniform in [-stdv, stdv], stdv = 1 / sqrt(feat_dim / 3) = 0.25 here.
    loss = _loss(feat_dim=48)
    loss.init_memory(500, "cpu")
    for bank in (loss.bank_s, loss.bank_t):
        assert bank.abs().max() <= 0.25 and bank.abs().max() > 0.24
        assert bank.pow(2).sum(1).mean().item() == pytest.approx(1.0, rel=0.05)


def test_momentum_update_only_touches_batch_rows() -> None:
    # Rule: rows at the batch indices become normalise(m * row + (1 - m) * embedding);
    # every other row is unchanged.
    torch.manual_seed(0)
    loss = _loss(feat_dim=8, momentum=0.5)
    loss.init_memory(10, "cpu")
    before_s, before_t = loss.bank_s.clone(), loss.bank_t.clone()
    s, t = torch.randn(3, 3), torch.randn(3, 4)
    idx = [2, 5, 7]
    loss(_inputs(s, t, idx, 10))
    e_s = torch.nn.functional.normalize(s @ loss.embed_s.weight.T + loss.embed_s.bias, dim=1)
    e_t = torch.nn.functional.normalize(t @ loss.embed_t.weight.T + loss.embed_t.bias, dim=1)
    for bank, before, e in ((loss.bank_s, before_s, e_s), (loss.bank_t, before_t, e_t)):
        row = 0.5 * before[idx] + 0.5 * e.detach()
        torch.testing.assert_close(bank[idx], row / row.norm(dim=1, keepdim=True))
        others = [i for i in range(10) if i not in idx]
        assert torch.equal(bank[others], before[others])


def test_z_fixed_after_first_batch() -> None:
    # Rule: Z is set from the first batch only; later batches neither reset nor move it.
    loss = _loss(feat_dim=8, n_negatives=5)
    loss(_inputs(torch.randn(4, 3), torch.randn(4, 4), [0, 1, 2, 3], 20))
    z = (loss.log_z_s.clone(), loss.log_z_t.clone())
    loss(_inputs(torch.randn(4, 3) * 5, torch.randn(4, 4), [4, 5, 6, 7], 20))
    assert torch.equal(loss.log_z_s, z[0]) and torch.equal(loss.log_z_t, z[1])


def test_gradients_reach_student_and_both_heads_only() -> None:
    # Rule: the student tap and both heads get gradients; the teacher tensor gets none.
    loss = _loss(feat_dim=8, n_negatives=5)
    s = torch.randn(4, 3, requires_grad=True)
    t = torch.randn(4, 4, requires_grad=True)
    loss(_inputs(s, t, [3, 1, 4, 0], 12)).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None
    for head in (loss.embed_s, loss.embed_t):
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0


def test_pools_feature_maps() -> None:
    # Rule: a (C, H, W) tap is global-average-pooled to (C,) before its head.
    loss = CRDLoss(
        teacher_layer="t",
        student_layer="s",
        teacher_shape=(4, 2, 2),
        student_shape=(3, 2, 2),
        feat_dim=8,
    )
    s, t = torch.randn(4, 3, 2, 2), torch.randn(4, 4, 2, 2)
    flat = _loss(feat_dim=8)
    flat.load_state_dict(loss.state_dict())
    expected = flat(_inputs(s.mean(dim=(2, 3)), t.mean(dim=(2, 3)))).item()
    assert loss(_inputs(s, t)).item() == pytest.approx(expected, rel=1e-6)


def _step_value(loss: CRDLoss, seed: int) -> float:
    loss = copy.deepcopy(loss)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(0)
    s, t = torch.randn(4, 3, generator=gen), torch.randn(4, 4, generator=gen)
    return loss(_inputs(s, t, [0, 1, 2, 3], 50)).item()


def test_negatives_follow_the_seed_the_loss_was_built_with() -> None:
    # Rule: negatives come from the loss's own generator, seeded from torch's global RNG when
    # the loss is built: the global RNG at the step (which other threads' trials share) does
    # not move them; another build seed does.
    torch.manual_seed(0)
    loss = _loss(feat_dim=8, n_negatives=5)
    loss.init_memory(50, "cpu")
    assert _step_value(loss, 1) == _step_value(loss, 2)
    torch.manual_seed(1)
    other = _loss(feat_dim=8, n_negatives=5)
    other.init_memory(50, "cpu")
    other.load_state_dict(loss.state_dict())  # same heads and banks: only negatives differ
    assert _step_value(other, 1) != _step_value(loss, 1)


def test_in_batch_fallback_matches_numpy() -> None:
    # Rule: without indices the batch is its own bank (other view, detached): positives on
    # the diagonal, the other B - 1 samples as negatives, N = B, Z = mean(scores) * B.
    torch.manual_seed(0)
    loss = _loss(feat_dim=5, nce_t=0.2)
    s, t = torch.randn(3, 3), torch.randn(3, 4)
    e_s, e_t = _np_embed(loss, s, t)
    rows = np.array([[0, 1, 2], [1, 0, 2], [2, 0, 1]])
    expected = np_nce(np_side(e_s, e_t, rows, 0.2, None)[0], 3)
    expected += np_nce(np_side(e_t, e_s, rows, 0.2, None)[0], 3)
    assert loss(_inputs(s, t)).item() == pytest.approx(expected, rel=1e-5)


def test_indices_without_num_samples() -> None:
    # Rule: indices and num_samples come together; one without the other fails the trial.
    loss = _loss()
    with pytest.raises(TrialSetupError, match="both indices and num_samples"):
        loss(_inputs(torch.randn(2, 3), torch.randn(2, 4), [0, 1], None))


def test_num_samples_must_match_banks() -> None:
    # Rule: banks built for N samples refuse a step that claims another N.
    loss = _loss(n_negatives=2)
    loss(_inputs(torch.randn(2, 3), torch.randn(2, 4), [0, 1], 8))
    with pytest.raises(TrialSetupError, match="for 8 samples, but got num_samples=9"):
        loss(_inputs(torch.randn(2, 3), torch.randn(2, 4), [0, 1], 9))


def test_rejects_taps_of_other_ranks() -> None:
    # Rule: taps must be (C, H, W) or (D,).
    with pytest.raises(TrialSetupError, match=r"\(C, H, W\) or \(D,\)"):
        CRDLoss(teacher_layer="t", student_layer="s", teacher_shape=(4, 5), student_shape=(3,))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("feat_dim", 0),
        ("feat_dim", 1.5),
        ("feat_dim", True),
        ("n_negatives", 0),
        ("n_negatives", "8"),
        ("nce_t", 0.0),
        ("nce_t", -0.1),
        ("nce_t", float("nan")),
        ("momentum", 1.0),
        ("momentum", -0.1),
        ("momentum", float("nan")),
        ("momentum", "0.5"),
    ],
)
def test_validate_params_rejects(key: str, value: object) -> None:
    # Rule: a bad parameter is a ConfigError keyed by its name, from the class and the init.
    with pytest.raises(ConfigError) as info:
        LOSSES.get("crd").validate_params({key: value})
    assert info.value.key == key and info.value.got == repr(value)
    with pytest.raises(ConfigError):
        _loss(**{key: value})


def test_validate_params_accepts_edges() -> None:
    # Rule: feat_dim = n_negatives = 1, a tiny nce_t and momentum 0 are valid.
    CRDLoss.validate_params({"feat_dim": 1, "n_negatives": 1, "nce_t": 1e-3, "momentum": 0})


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A briefly trained digits teacher saved as a state_dict."""
    return digits_teacher(tmp_path_factory.mktemp("teacher"))


def test_trains_a_digits_student(teacher: dict) -> None:
    # Rule: CRD on the pooled features trains with the engine's indices and N; the run ends
    # with finite metrics and above-chance accuracy (10 classes).
    recipe = Recipe.from_dict(
        {
            "teacher": teacher,
            "student": {"family": "cnn", "width": 0.5},
            "optim": {"lr": 0.1, "epochs": 2, "batch_size": 64},
            "distill": {"terms": {"crd": {"pair": "pool -> pool", "weight": 0.5}}},
        }
    )
    result = train_recipe(recipe)
    assert all(math.isfinite(v) for m in result.history for v in m.values())
    assert result.val_acc > 0.3
    assert result.extra_params > 0  # the two embedding heads, trained with the student
