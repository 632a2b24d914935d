"""ICKD: the authors' row-normalised form (default) against the raw Gram form.

Hand-computed values for both forms, the invariance and bound that row normalisation buys
(and the raw form lacks), the ``normalize`` parameter's checks and the default weight range.
Golden values for both forms live in ``fixtures/feature_stats_golden.json`` (see
``test_feature_stats.py``).
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest
import torch

from autokd.exceptions import ConfigError
from autokd.losses import LOSSES
from autokd.losses._ickd import ICKDLoss
from autokd.losses._ickd import ickd_loss
from tests.losses_tests.test_feature_stats import _build
from tests.losses_tests.test_feature_stats import _inputs
from tests.losses_tests.test_feature_stats import _set_identity

PROPERTY = settings(max_examples=40, deadline=None, database=None)

# B = 1, C = 2, H x W = 1 x 2. Student channels (1, 0) and (1, 1): G_s = [[1, 1], [1, 2]];
# teacher channels (1, 0) and (0, 1): G_t = I.
S_TINY = torch.tensor([[[[1.0, 0.0]], [[1.0, 1.0]]]])
T_TINY = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])


def _identity_ickd(channels: int, hw: tuple[int, int] = (1, 2), **params: object) -> ICKDLoss:
    loss = _build("ickd", (channels, *hw), (channels, *hw), **params)
    _set_identity(loss.proj)
    assert isinstance(loss, ICKDLoss)
    return loss


def _features(seed: int, shape: tuple[int, ...], *, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


# ---- hand-computed cases -------------------------------------------------------------------


def test_rownorm_by_hand() -> None:
    # Rule: N_s rows (1, 1)/sqrt 2 and (1, 2)/sqrt 5, N_t = I. Row 1: (1/sqrt 2 - 1)^2 + 1/2
    # = 2 - sqrt 2; row 2: 1/5 + (2/sqrt 5 - 1)^2 = 2 - 4/sqrt 5. Sum / C = 2 - sqrt2/2 - 2/sqrt5.
    expected = 2.0 - math.sqrt(2.0) / 2.0 - 2.0 / math.sqrt(5.0)  # 0.39846...
    assert _identity_ickd(2)(_inputs(S_TINY, T_TINY)).item() == pytest.approx(expected, rel=1e-6)


def test_raw_form_by_hand() -> None:
    # Rule: normalize=false: G_s - G_t = [[0, 1], [1, 1]], squared sum 3, over C^2 = 4.
    loss = _identity_ickd(2, normalize=False)
    assert loss(_inputs(S_TINY, T_TINY)).item() == pytest.approx(0.75)


def test_rownorm_is_the_default() -> None:
    # Rule: without parameters the loss is the authors' row-normalised form.
    loss = _identity_ickd(2)
    assert loss.normalize is True
    explicit = _identity_ickd(2, normalize=True)(_inputs(S_TINY, T_TINY)).item()
    assert loss(_inputs(S_TINY, T_TINY)).item() == explicit


def test_rownorm_reduction_is_sum_over_batch_times_channels() -> None:
    # Rule: a second sample equal to the teacher adds 0 and halves the value (mean over B).
    s = torch.cat([S_TINY, T_TINY])
    t = torch.cat([T_TINY, T_TINY])
    one = _identity_ickd(2)(_inputs(S_TINY, T_TINY)).item()
    assert _identity_ickd(2)(_inputs(s, t)).item() == pytest.approx(one / 2, rel=1e-6)


def test_an_all_zero_channel_gives_a_zero_row() -> None:
    # Rule: student channels (1, 1), (0, 0): G_s = [[2, 0], [0, 0]] -> N_s = [[1, 0], [0, 0]];
    # teacher channels (1, 0), (1, 0): N_t rows (1, 1)/sqrt 2. Rows give 2 - sqrt 2 and 1,
    # L = (3 - sqrt 2) / 2, and the zero row's gradient stays finite.
    s = torch.tensor([[[[1.0, 1.0]], [[0.0, 0.0]]]], requires_grad=True)
    t = torch.tensor([[[[1.0, 0.0]], [[1.0, 0.0]]]])
    value = ickd_loss(s, t)
    value.backward()
    assert value.item() == pytest.approx((3.0 - math.sqrt(2.0)) / 2.0, rel=1e-6)
    assert s.grad is not None and torch.isfinite(s.grad).all()


# ---- invariance and bound ------------------------------------------------------------------


@PROPERTY
@given(
    seed=st.integers(0, 2**31 - 1),
    channels=st.integers(1, 6),
    side=st.integers(1, 6),
    factor=st.floats(1e-2, 1e2),
)
def test_rownorm_ignores_a_positive_scale_of_either_map(
    seed: int, channels: int, side: int, factor: float
) -> None:
    # Rule: x -> a x multiplies G by a^2 > 0, which unit rows cancel, on either side.
    s = _features(seed, (2, channels, side, side))
    t = _features(seed + 1, (2, channels, side, side))
    base = ickd_loss(s, t).item()
    assert ickd_loss(factor * s, t).item() == pytest.approx(base, rel=1e-4, abs=1e-6)
    assert ickd_loss(s, factor * t).item() == pytest.approx(base, rel=1e-4, abs=1e-6)


def test_raw_form_is_not_scale_invariant() -> None:
    # Rule: without normalisation, doubling the student changes the value.
    s, t = _features(0, (2, 3, 4, 4)), _features(1, (2, 3, 4, 4))
    raw = ickd_loss(s, t, normalize=False).item()
    assert ickd_loss(2.0 * s, t, normalize=False).item() != pytest.approx(raw, rel=1e-2)


def test_module_scale_invariance_through_an_identity_projector() -> None:
    # Rule: the registered loss inherits the invariance (identity projector, zero bias).
    s, t = _features(2, (2, 2, 1, 2)), _features(3, (2, 2, 1, 2))
    loss = _identity_ickd(2)
    expected = loss(_inputs(s, t)).item()
    assert loss(_inputs(37.0 * s, t)).item() == pytest.approx(expected, rel=1e-5)


@PROPERTY
@given(
    seed=st.integers(0, 2**31 - 1),
    channels=st.integers(1, 8),
    side=st.integers(1, 12),
    log_scale=st.floats(-2.0, 3.0),
    nonnegative=st.booleans(),
)
def test_rownorm_stays_within_zero_and_four(
    seed: int, channels: int, side: int, log_scale: float, nonnegative: bool
) -> None:
    # Rule: each of the C rows adds at most ||u - v||^2 <= 4 for unit u, v; dividing by C
    # bounds L by 4 whatever the scale or H*W (by 2 for post-ReLU maps: rows in one orthant).
    shape = (2, channels, side, side)
    s = _features(seed, shape, scale=10.0**log_scale)
    t = _features(seed + 1, shape, scale=10.0**-log_scale)
    if nonnegative:
        s, t = s.relu(), t.relu()
    value = ickd_loss(s, t).item()
    assert 0.0 <= value <= (2.0 if nonnegative else 4.0) + 1e-5


def test_rownorm_is_bounded_as_hw_grows_while_raw_grows_like_hw_squared() -> None:
    # Rule: with positive maps (mean 1/2 vs 1) the raw G's grow like H*W, so the raw loss
    # grows like (H*W)^2; the normalised one stays below 2 (rows in one orthant).
    raw, rownorm = [], []
    for side in (2, 8, 32):
        g = torch.Generator().manual_seed(side)
        s = torch.rand(2, 4, side, side, generator=g)
        t = 2 * torch.rand(2, 4, side, side, generator=g)
        raw.append(ickd_loss(s, t, normalize=False).item())
        rownorm.append(ickd_loss(s, t).item())
    assert raw[1] > 100 * raw[0] and raw[2] > 100 * raw[1]  # (H*W)^2 ratio is 256 per step
    assert all(0.0 <= v <= 2.0 for v in rownorm)
    assert max(rownorm) < 1.0 < min(raw)


# ---- parameter and defaults ----------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 0, "true", "false", None, 1.0])
def test_normalize_must_be_a_bool(value: object) -> None:
    # Rule: a non-bool normalize is a ConfigError keyed "normalize", before anything is built.
    with pytest.raises(ConfigError) as info:
        ICKDLoss.validate_params({"normalize": value})
    assert info.value.key == "normalize" and info.value.got == repr(value)
    assert "true or false" in info.value.expected
    with pytest.raises(ConfigError):
        _build("ickd", (4, 2, 2), (3, 2, 2), normalize=value)


@pytest.mark.parametrize("value", [True, False])
def test_normalize_accepts_both_bools(value: bool) -> None:
    # Rule: true and false are valid and stored on the loss.
    assert _build("ickd", (4, 2, 2), (3, 2, 2), normalize=value).normalize is value


def test_normalize_is_the_only_parameter() -> None:
    # Rule: the recipe's params block for ickd takes normalize and nothing else.
    assert LOSSES.get("ickd").param_names() == ("normalize",)


def test_default_weight_range_suits_the_normalised_form() -> None:
    # Rule: the default log range holds the authors' CIFAR-100 weight 2.5 and no longer
    # reaches down to the raw form's 1e-4.
    weight = ICKDLoss.search_defaults["weight"]
    assert weight["log"] and weight["low"] < 2.5 < weight["high"]
    assert weight["low"] >= 0.01


def test_matrix_products_stay_float32_under_autocast() -> None:
    # Rule: the engine's bf16 autocast reaches neither the Gram matrices nor their norms
    # (the projector is left out: under autocast it runs in bf16 like any student layer).
    s, t = _features(8, (2, 6, 8, 8)) + 1, _features(9, (2, 6, 8, 8))
    expected = [ickd_loss(s, t).item(), ickd_loss(s, t, normalize=False).item()]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = [ickd_loss(s, t).item(), ickd_loss(s, t, normalize=False).item()]
    assert got == pytest.approx(expected, rel=1e-5)
