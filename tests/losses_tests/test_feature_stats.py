"""Feature-statistics losses (nst, gram, ickd, ab, vid, cwd).

Hand-computed cases, the invariances each formula promises, learnable parts, shape and
parameter errors, extreme inputs, and float64 numpy references written from the papers'
formulas independently of the torch code (AB in the authors' indicator form, ICKD as a
per-sample Frobenius norm of row-normalised Grams over C, or of raw Grams over C^2, CWD
through ``np_log_softmax``). The references generated
``fixtures/feature_stats_golden.json`` once; regenerate with
``python -m tests.losses_tests.test_feature_stats`` from the repository root.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from autokd.exceptions import ConfigError
from autokd.exceptions import TrialSetupError
from autokd.losses import LOSSES
from autokd.losses import BaseDistillLoss
from autokd.losses import DistillInputs
from autokd.losses._feature_common import make_projector
from tests.losses_tests.test_golden import np_log_softmax
from tests.losses_tests.test_golden import np_resize_bilinear

FIXTURE = Path(__file__).parent / "fixtures" / "feature_stats_golden.json"
NEW_LOSSES = ("nst", "gram", "ickd", "ab", "vid", "cwd")
MAP_ONLY = ("nst", "gram", "ickd", "cwd")  # need (C, H, W) taps; ab and vid also take (D,)

# ---- numpy reference (float64) ----------------------------------------------------------


def _np_match(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """x (B, C, h, w) resized to t's spatial size; vectors and equal sizes unchanged."""
    if x.ndim == 4 and x.shape[-2:] != t.shape[-2:]:
        return np_resize_bilinear(x, t.shape[-2:])
    return x


def np_conv1x1(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    y = np.einsum("oc,bchw->bohw", w, x)
    return y if b is None else y + b[None, :, None, None]


def np_batch_norm(x: np.ndarray) -> np.ndarray:
    """Training-mode BatchNorm2d at init: batch statistics, biased variance, eps 1e-5."""
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5)


def np_project(x: np.ndarray, projector: str | None, weights: dict[str, Any]) -> np.ndarray:
    w = {k: np.asarray(v) for k, v in weights.items()}
    if projector is None:
        return x
    if projector == "conv1x1":
        return np_conv1x1(x, w["weight"], w["bias"])
    if projector == "conv1x1_bn":
        return np_batch_norm(np_conv1x1(x, w["0.weight"]))
    if projector == "linear":
        return x @ w["weight"].T + w["bias"]
    assert projector == "mlp" and x.ndim == 4
    hidden = np.maximum(np_conv1x1(x, w["0.weight"], w["0.bias"]), 0.0)
    return np_conv1x1(hidden, w["2.weight"], w["2.bias"])


def np_nst(s: np.ndarray, t: np.ndarray, degree: int, c: float) -> float:
    """Huang & Wang: squared MMD of L2-normalised channel maps, poly kernel, batch mean."""

    def unit(f: np.ndarray) -> np.ndarray:
        f = f.reshape(f.shape[0], f.shape[1], -1)
        return f / np.maximum(np.linalg.norm(f, axis=2, keepdims=True), 1e-12)

    u, v = unit(t), unit(_np_match(s, t))
    per_sample = []
    for b in range(len(u)):
        k_tt = np.mean([(a @ a2 + c) ** degree for a in u[b] for a2 in u[b]])
        k_ss = np.mean([(a @ a2 + c) ** degree for a in v[b] for a2 in v[b]])
        k_st = np.mean([(a @ a2 + c) ** degree for a in u[b] for a2 in v[b]])
        per_sample.append(k_tt + k_ss - 2 * k_st)
    return float(np.mean(per_sample))


def _np_gram(f: np.ndarray) -> np.ndarray:
    f = f.reshape(f.shape[0], f.shape[1], -1)
    return np.einsum("bin,bjn->bij", f, f)


def np_gram(s: np.ndarray, t: np.ndarray) -> float:
    """Gatys-style: G = F F^T / (H W) per sample; mean squared difference of the G's."""
    g_s = _np_gram(s) / (s.shape[2] * s.shape[3])
    g_t = _np_gram(t) / (t.shape[2] * t.shape[3])
    return float(((g_s - g_t) ** 2).mean())


def np_ickd(s: np.ndarray, t: np.ndarray, normalize: bool = True) -> float:
    """Liu et al.'s code: batch mean of ||N_s - N_t||_F^2 / C, N = G with unit-L2 rows,
    G = F F^T; raw form: batch mean of ||G_s - G_t||_F^2 / C^2."""
    g_s, g_t = _np_gram(_np_match(s, t)), _np_gram(t)
    if not normalize:
        return float((((g_s - g_t) ** 2).sum(axis=(1, 2)) / t.shape[1] ** 2).mean())

    def unit_rows(g: np.ndarray) -> np.ndarray:
        return g / np.maximum(np.sqrt((g**2).sum(axis=2, keepdims=True)), 1e-12)

    frob2 = ((unit_rows(g_s) - unit_rows(g_t)) ** 2).sum(axis=(1, 2))
    return float((frob2 / t.shape[1]).mean())


def np_ab(r: np.ndarray, t: np.ndarray, margin: float) -> float:
    """Heo et al.'s code: (r + m)^2 [r > -m, t <= 0] + (r - m)^2 [r <= m, t > 0], mean."""
    r = _np_match(r, t)
    off = (r + margin) ** 2 * ((r > -margin) & (t <= 0))
    on = (r - margin) ** 2 * ((r <= margin) & (t > 0))
    return float((off + on).mean())


def np_vid(mu: np.ndarray, t: np.ndarray, var: np.ndarray) -> float:
    """Ahn et al.: mean of 0.5 * (log var_c + (t - mu)^2 / var_c)."""
    mu = _np_match(mu, t)
    var = var.reshape(1, -1, *([1] * (t.ndim - 2)))
    return float((0.5 * (np.log(var) + (t - mu) ** 2 / var)).mean())


def np_cwd(s: np.ndarray, t: np.ndarray, tau: float) -> float:
    """Shu et al.: tau^2 * KL(softmax(t_c / tau) || softmax(s_c / tau)) over positions, mean."""
    s = _np_match(s, t)
    rows_t = t.reshape(-1, t.shape[2] * t.shape[3]) / tau  # (B*C, H*W)
    rows_s = s.reshape(-1, t.shape[2] * t.shape[3]) / tau
    log_pt, log_ps = np_log_softmax(rows_t), np_log_softmax(rows_s)
    kl = (np.exp(log_pt) * (log_pt - log_ps)).sum(axis=1)  # (B*C,)
    return float(tau**2 * kl.mean())


def np_reference(case: dict[str, Any]) -> float:
    s, t, params = np.asarray(case["student"]), np.asarray(case["teacher"]), case["params"]
    proj = np_project(s, case["projector"], case["weights"])
    if case["loss"] == "nst":
        return np_nst(s, t, params["degree"], params["c"])
    if case["loss"] == "gram":
        return np_gram(proj, t)
    if case["loss"] == "ickd":
        return np_ickd(proj, t, params.get("normalize", True))
    if case["loss"] == "ab":
        return np_ab(proj, t, params["margin"])
    if case["loss"] == "cwd":
        return np_cwd(proj, t, params["tau"])
    alpha = np.asarray(case["alpha"])
    return np_vid(proj, t, np.log1p(np.exp(alpha)) + params["eps"])


# ---- fixture generation (run once) -------------------------------------------------------


def _rand(rng: np.random.RandomState, *shape: int) -> list:
    return np.round(rng.standard_normal(shape), 3).tolist()


def _weights(rng: np.random.RandomState, projector: str | None, cs: int, ct: int) -> dict:
    if projector in ("conv1x1", "linear"):
        return {"weight": _rand(rng, ct, cs), "bias": _rand(rng, ct)}
    if projector == "conv1x1_bn":
        return {"0.weight": _rand(rng, ct, cs)}
    if projector == "mlp":
        w0, b0, w2, b2 = _rand(rng, ct, cs), _rand(rng, ct), _rand(rng, ct, ct), _rand(rng, ct)
        return {"0.weight": w0, "0.bias": b0, "2.weight": w2, "2.bias": b2}
    return {}


_CASES = (  # name, loss, params, projector, student shape, teacher shape
    ("nst_d2", "nst", {"degree": 2, "c": 0.0}, None, (2, 3, 4, 4), (2, 5, 4, 4)),
    ("nst_resized_d3_c05", "nst", {"degree": 3, "c": 0.5}, None, (2, 3, 2, 2), (2, 5, 4, 4)),
    ("gram_equal_channels", "gram", {}, None, (2, 3, 4, 4), (2, 3, 4, 4)),
    ("gram_conv1x1_sizes_differ", "gram", {}, "conv1x1", (2, 3, 2, 2), (2, 5, 4, 4)),
    ("ickd_conv1x1", "ickd", {"normalize": False}, "conv1x1", (2, 3, 4, 4), (2, 5, 4, 4)),
    ("ickd_mlp_resized", "ickd", {"normalize": False}, "mlp", (2, 3, 2, 2), (2, 4, 4, 4)),
    ("ab_conv1x1_bn", "ab", {"margin": 1.0}, "conv1x1_bn", (3, 3, 4, 4), (3, 5, 4, 4)),
    ("ab_resized_m05", "ab", {"margin": 0.5}, "conv1x1", (2, 3, 2, 2), (2, 4, 4, 4)),
    ("ab_linear_vectors", "ab", {"margin": 0.5}, "linear", (3, 6), (3, 4)),
    ("vid_mlp", "vid", {"eps": 1e-5, "init_var": 5.0}, "mlp", (2, 3, 4, 4), (2, 5, 4, 4)),
    ("vid_resized", "vid", {"eps": 1e-3, "init_var": 2.0}, "conv1x1", (2, 3, 2, 2), (2, 4, 4, 4)),
    ("cwd_tau4", "cwd", {"tau": 4.0}, None, (2, 5, 4, 4), (2, 5, 4, 4)),
    ("cwd_conv1x1_resized_tau1", "cwd", {"tau": 1.0}, "conv1x1", (2, 3, 2, 2), (2, 5, 4, 4)),
    # Appended last so the random draws of the cases above stay as stored.
    ("ickd_rownorm_conv1x1", "ickd", {}, "conv1x1", (2, 3, 4, 4), (2, 5, 4, 4)),
    ("ickd_rownorm_mlp_resized", "ickd", {"normalize": True}, "mlp", (2, 3, 2, 2), (2, 4, 4, 4)),
)


def _build_cases() -> list[dict[str, Any]]:
    rng = np.random.RandomState(20240611)
    cases = []
    for name, loss, params, projector, s_shape, t_shape in _CASES:
        case = {
            "name": name,
            "loss": loss,
            "params": params,
            "projector": projector,
            "student": _rand(rng, *s_shape),
            "teacher": np.round(2.0 * np.asarray(_rand(rng, *t_shape)), 3).tolist(),
            "weights": _weights(rng, projector, s_shape[1], t_shape[1]),
        }
        if loss == "vid":  # alpha set explicitly, so the softplus parametrisation is checked
            case["alpha"] = np.round(rng.uniform(-2.0, 2.0, t_shape[1]), 3).tolist()
        case["expected"] = np_reference(case)
        cases.append(case)
    return cases


def main() -> None:
    lines = ",\n".join(json.dumps(case) for case in _build_cases())  # one case per line
    FIXTURE.write_text(f'{{"cases": [\n{lines}\n]}}\n')


# ---- helpers -------------------------------------------------------------------------------


def _build(
    name: str, t_shape: tuple, s_shape: tuple, projector: str | None = None, **params: Any
) -> BaseDistillLoss:
    return LOSSES.get(name)(
        teacher_layer="t",
        student_layer="s",
        teacher_shape=t_shape,
        student_shape=s_shape,
        projector=projector,
        **params,
    )


def _inputs(s: torch.Tensor, t: torch.Tensor, temperature: float = 1.0) -> DistillInputs:
    logits = torch.zeros(len(s), 2)
    targets = torch.zeros(len(s), dtype=torch.long)
    return DistillInputs(logits, logits, targets, {"s": s}, {"t": t}, temperature=temperature)


def _value(name: str, s: torch.Tensor, t: torch.Tensor, **kwargs: Any) -> float:
    return _build(name, tuple(t.shape[1:]), tuple(s.shape[1:]), **kwargs)(_inputs(s, t)).item()


def _set_identity(conv: nn.Conv2d) -> None:
    with torch.no_grad():
        conv.weight.copy_(torch.eye(conv.out_channels).reshape(conv.weight.shape))
        conv.bias.zero_()


def _cases() -> list[dict[str, Any]]:
    return json.loads(FIXTURE.read_text())["cases"] if FIXTURE.exists() else []


def _torch_value(case: dict[str, Any]) -> float:
    s = torch.tensor(case["student"], dtype=torch.float32)
    t = torch.tensor(case["teacher"], dtype=torch.float32)
    shapes = tuple(t.shape[1:]), tuple(s.shape[1:])
    loss = _build(case["loss"], *shapes, case["projector"], **case["params"])
    state = loss.state_dict()
    with torch.no_grad():
        for key, value in case["weights"].items():
            state[f"proj.{key}"].copy_(torch.tensor(value).reshape(state[f"proj.{key}"].shape))
        if "alpha" in case:
            state["alpha"].copy_(torch.tensor(case["alpha"]))
    return loss(_inputs(s, t)).item()


# ---- golden values -------------------------------------------------------------------------


def test_fixture_covers_the_new_losses() -> None:
    # Rule: each of the six losses has golden values.
    assert {c["loss"] for c in _cases()} == set(NEW_LOSSES)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_numpy_reference_reproduces_fixture(case: dict[str, Any]) -> None:
    # Rule: the independent reference still gives the stored numbers.
    assert np_reference(case) == pytest.approx(case["expected"], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_torch_loss_matches_fixture(case: dict[str, Any]) -> None:
    # Rule: the torch loss (float32) agrees with the float64 golden value, resizing included.
    assert _torch_value(case) == pytest.approx(case["expected"], rel=2e-5, abs=1e-7)


# ---- hand-computed cases -------------------------------------------------------------------


def test_gram_one_channel_by_hand() -> None:
    # Rule: G_s = (1+4+9+16)/4 = 7.5, G_t = 4/4 = 1, L = 6.5^2 = 42.25.
    s = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert _value("gram", s, torch.ones(1, 1, 2, 2)) == pytest.approx(42.25)


def test_gram_compares_spatial_averages_so_sizes_may_differ() -> None:
    # Rule: G is averaged over positions: a 2x2 and a 4x4 map of ones both give G = 1.
    assert _value("gram", torch.ones(1, 1, 2, 2), torch.ones(1, 1, 4, 4)) == 0.0


@pytest.mark.parametrize(
    ("degree", "c", "expected"),
    [
        (2, 0.0, 1.0),  # 1 + 1 - 2 * (1/sqrt 2)^2
        (1, 0.0, 2 - math.sqrt(2)),  # 1 + 1 - 2/sqrt 2
        (2, 1.0, 5 - 2 * math.sqrt(2)),  # 4 + 4 - 2 * (1 + 1/sqrt 2)^2
    ],
)
def test_nst_one_channel_by_hand(degree: int, c: float, expected: float) -> None:
    # Rule: one channel each: u = (1,0,0,0), v = (1,1,0,0)/sqrt 2, u.v = 1/sqrt 2.
    t = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    s = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    assert _value("nst", s, t, degree=degree, c=c) == pytest.approx(expected, rel=1e-6)


def test_nst_channel_counts_may_differ_by_hand() -> None:
    # Rule: teacher channels e1, e2, student e1: k_tt = 2/4, k_ss = 1, k_st = 1/2 -> 0.5.
    t = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2)
    s = torch.tensor([[[[3.0, 0.0]]]])  # (1, 1, 1, 2)
    assert _value("nst", s, t) == pytest.approx(0.5)


def test_ickd_raw_one_channel_by_hand() -> None:
    # Rule: raw form, identity projector: G_s = 1+4+9+16 = 30, G_t = 4, L = 26^2 / 1^2 = 676.
    loss = _build("ickd", (1, 2, 2), (1, 2, 2), normalize=False)
    _set_identity(loss.proj)
    s = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert loss(_inputs(s, torch.ones(1, 1, 2, 2))).item() == pytest.approx(676.0)


def _ab_identity(margin: float = 1.0) -> BaseDistillLoss:
    loss = _build("ab", (2, 1, 2), (2, 1, 2), "conv1x1", margin=margin)
    _set_identity(loss.proj)
    return loss


def test_ab_is_zero_beyond_the_margin() -> None:
    # Rule: r >= m where the teacher fires and r <= -m where it does not give 0 (T = 0 is off).
    t = torch.tensor([[[[2.0, -1.0]], [[0.0, 0.5]]]])
    r = torch.tensor([[[[1.0, -1.0]], [[-3.0, 5.0]]]])
    assert _ab_identity()(_inputs(r, t)).item() == 0.0


def test_ab_by_hand() -> None:
    # Rule: m = 1: r = 0.5 on an active unit -> 0.5^2; on inactive ones -> 1.5^2 (T = 0
    # included); r = 0 on an active unit -> 1. Mean of (0.25, 2.25, 2.25, 1) = 1.4375.
    t = torch.tensor([[[[1.0, -1.0]], [[0.0, 3.0]]]])
    r = torch.tensor([[[[0.5, 0.5]], [[0.5, 0.0]]]])
    assert _ab_identity()(_inputs(r, t)).item() == pytest.approx(1.4375)


def test_cwd_is_zero_for_uniform_maps() -> None:
    # Rule: constant maps are uniform distributions over positions on both sides.
    s, t = torch.full((2, 3, 4, 4), -7.0), torch.full((2, 3, 4, 4), 2.5)
    assert _value("cwd", s, t) == 0.0


@pytest.mark.parametrize("tau", [1.0, 2.0])
def test_cwd_by_hand(tau: float) -> None:
    # Rule: t / tau = (0, ln 3) -> p_t = (1/4, 3/4); s = 0 -> p_s = (1/2, 1/2);
    # KL = 1/4 ln(1/2) + 3/4 ln(3/2), times tau^2.
    t = torch.tensor([[[[0.0, tau * math.log(3.0)]]]])
    s = torch.zeros(1, 1, 1, 2)
    kl = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert _value("cwd", s, t, tau=tau) == pytest.approx(tau**2 * kl, rel=1e-6)


def _vid_zero_mean(t_shape: tuple, **params: Any) -> BaseDistillLoss:
    loss = _build("vid", t_shape, t_shape, **params)
    with torch.no_grad():
        for p in loss.proj.parameters():
            p.zero_()  # mu = 0
    return loss


def test_vid_by_hand() -> None:
    # Rule: mu = 0, sigma^2 = init_var: t = 2, var 1 -> 0.5 * (0 + 4) = 2; t = 0, var e -> 0.5.
    t = torch.full((2, 3, 2, 2), 2.0)
    assert _vid_zero_mean((3, 2, 2), init_var=1.0)(_inputs(t, t)).item() == pytest.approx(2.0)
    zero = torch.zeros(2, 3, 2, 2)
    loss = _vid_zero_mean((3, 2, 2), init_var=math.e)
    assert loss(_inputs(zero, zero)).item() == pytest.approx(0.5, rel=1e-6)


# ---- invariances ---------------------------------------------------------------------------


def test_nst_is_invariant_to_positive_channel_scales() -> None:
    # Rule: each channel map is L2-normalised, so positive scales per channel change nothing.
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 5, 4, 4, generator=g)
    k_s = torch.rand(2, 3, 1, 1, generator=g) * 100 + 0.01
    k_t = torch.rand(2, 5, 1, 1, generator=g) * 100 + 0.01
    assert _value("nst", s * k_s, t * k_t) == pytest.approx(_value("nst", s, t), rel=1e-5)
    # (x.y)^2 is even, so with c = 0 a sign flip is invisible too; with c > 0 it is not.
    assert _value("nst", -s, t) == pytest.approx(_value("nst", s, t), rel=1e-5)
    assert _value("nst", -s, t, c=1.0) != pytest.approx(_value("nst", s, t, c=1.0), rel=1e-3)


def test_cwd_is_invariant_to_per_channel_offsets() -> None:
    # Rule: softmax over positions ignores a constant added to a channel's map.
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(2, 4, 3, 3, generator=g), torch.randn(2, 4, 3, 3, generator=g)
    off_s = torch.randn(2, 4, 1, 1, generator=g) * 50
    off_t = torch.randn(2, 4, 1, 1, generator=g) * 50
    assert _value("cwd", s + off_s, t + off_t) == pytest.approx(_value("cwd", s, t), rel=1e-5)


def test_cwd_ignores_the_recipe_temperature() -> None:
    # Rule: tau is the loss's own parameter; the recipe's T (for logits) is not used.
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(2, 4, 3, 3, generator=g), torch.randn(2, 4, 3, 3, generator=g)
    loss = _build("cwd", (4, 3, 3), (4, 3, 3), tau=2.0)
    assert loss(_inputs(s, t, temperature=1.0)).item() == loss(_inputs(s, t, 10.0)).item()


@pytest.mark.parametrize("name", ["gram", "cwd", "nst"])
def test_zero_when_equal(name: str) -> None:
    # Rule: equal maps with equal channels (no projector is built) give 0.
    t = torch.randn(3, 4, 5, 5)
    loss = _build(name, (4, 5, 5), (4, 5, 5))
    assert not list(loss.parameters())
    assert loss(_inputs(t.clone(), t)).item() == pytest.approx(0.0, abs=1e-6)


def test_gram_ignores_where_activations_are() -> None:
    # Rule: G sums over positions, so shuffling the student's positions changes nothing.
    g = torch.Generator().manual_seed(3)
    s, t = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    perm = torch.randperm(16, generator=g)
    shuffled = s.flatten(2)[:, :, perm].reshape(s.shape)
    assert _value("gram", shuffled, t) == pytest.approx(_value("gram", s, t), rel=1e-5)


def test_ab_reads_only_the_teachers_signs() -> None:
    # Rule: rho(T) = 1[T > 0]: scaling the teacher by a positive constant changes nothing.
    g = torch.Generator().manual_seed(4)
    s, t = torch.randn(2, 2, 3, 3, generator=g), torch.randn(2, 2, 3, 3, generator=g)
    loss = _build("ab", (2, 3, 3), (2, 3, 3), "conv1x1", margin=0.5)
    _set_identity(loss.proj)
    assert loss(_inputs(s, t * 1e3)).item() == loss(_inputs(s, t)).item()


# ---- learnable parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "s_shape", "projector", "kinds"),
    [
        ("gram", (8, 4, 4), None, [nn.Conv2d]),
        ("gram", (16, 4, 4), "mlp", [nn.Conv2d, nn.ReLU, nn.Conv2d]),
        ("cwd", (8, 4, 4), None, [nn.Conv2d]),
        ("cwd", (8, 4, 4), "mlp", [nn.Conv2d, nn.ReLU, nn.Conv2d]),
        ("ickd", (16, 4, 4), None, [nn.Conv2d]),
        ("ab", (8, 4, 4), None, [nn.Conv2d, nn.BatchNorm2d]),
        ("ab", (8,), None, [nn.Linear]),
        ("ab", (8,), "mlp", [nn.Linear, nn.ReLU, nn.Linear]),
        ("vid", (8, 4, 4), None, [nn.Conv2d, nn.ReLU, nn.Conv2d]),
        ("vid", (8,), None, [nn.Linear, nn.ReLU, nn.Linear]),
        ("vid", (8, 4, 4), "conv1x1", [nn.Conv2d]),
    ],
)
def test_projectors_are_built_and_trained(
    name: str, s_shape: tuple, projector: str | None, kinds: list
) -> None:
    # Rule: the default (or named) projector maps the student to the teacher's channels, and
    # every parameter of the loss gets a non-zero gradient.
    t_shape = (16, 4, 4) if len(s_shape) == 3 else (16,)
    loss = _build(name, t_shape, s_shape, projector)
    layers = list(loss.proj) if isinstance(loss.proj, nn.Sequential) else [loss.proj]
    assert [type(m) for m in layers] == kinds
    g = torch.Generator().manual_seed(5)
    s = torch.randn(4, *s_shape, generator=g).requires_grad_(True)
    loss(_inputs(s, torch.randn(4, *t_shape, generator=g))).backward()
    params = dict(loss.named_parameters())
    assert params and all(p.grad is not None and p.grad.abs().sum() > 0 for p in params.values())


def test_vid_variance_is_learned_per_channel() -> None:
    # Rule: alpha is a (Ct,) parameter starting at sigma^2 = init_var; with a perfect mean the
    # gradient shrinks the variance, with a large residual it grows it.
    loss = _vid_zero_mean((3, 2, 2), init_var=2.0)
    assert isinstance(loss.alpha, nn.Parameter) and loss.alpha.shape == (3,)
    assert torch.allclose(loss.variance(), torch.full((3,), 2.0))
    zero = torch.zeros(2, 3, 2, 2)
    loss(_inputs(zero, zero)).backward()
    assert (loss.alpha.grad > 0).all()  # descent lowers alpha, so sigma^2
    loss.alpha.grad = None
    loss(_inputs(zero, torch.full((2, 3, 2, 2), 10.0))).backward()
    assert (loss.alpha.grad < 0).all()  # residual^2 = 100 > sigma^2: sigma^2 should grow


@pytest.mark.parametrize("name", ["gram", "cwd"])
def test_a_named_projector_is_used_with_equal_channels(name: str) -> None:
    # Rule: equal channels need no projector, but a named one is still built.
    assert isinstance(_build(name, (4, 3, 3), (4, 3, 3), "conv1x1").proj, nn.Conv2d)


# ---- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MAP_ONLY)
@pytest.mark.parametrize(("t_shape", "s_shape"), [((16,), (8,)), ((16, 4, 4), (8,))])
def test_map_losses_reject_vector_taps(name: str, t_shape: tuple, s_shape: tuple) -> None:
    # Rule: these losses need (C, H, W) taps; the message names both layers and shapes.
    with pytest.raises(TrialSetupError) as info:
        LOSSES.get(name)(
            teacher_layer="stages.1",
            student_layer="head.fc",
            teacher_shape=t_shape,
            student_shape=s_shape,
        )
    message = str(info.value)
    assert "'stages.1'" in message and "'head.fc'" in message
    assert str(t_shape) in message and str(s_shape) in message and "4-D" in message


@pytest.mark.parametrize("name", ["ab", "vid"])
def test_vector_losses_reject_mixed_ranks(name: str) -> None:
    # Rule: ab and vid take (D,) taps, but both sides must have the same rank.
    with pytest.raises(TrialSetupError, match=r"both taps 4-D .* or both 2-D"):
        _build(name, (16, 4, 4), (8,))


@pytest.mark.parametrize(
    ("name", "shape", "projector"),
    [("ab", (8,), "conv1x1_bn"), ("vid", (8,), "conv1x1"), ("ab", (8, 4, 4), "linear")],
)
def test_projector_must_fit_the_taps(name: str, shape: tuple, projector: str) -> None:
    # Rule: a conv projector needs maps and a linear one vectors; the message says which.
    t_shape = (16, *shape[1:])
    with pytest.raises(TrialSetupError, match=f"projector '{projector}' takes"):
        _build(name, t_shape, shape, projector)


@pytest.mark.parametrize(("name", "ndim"), [("conv1x1", 1), ("linear", 3), ("mlp", 2), ("x", 3)])
def test_make_projector_rejects_what_it_cannot_build(name: str, ndim: int) -> None:
    # Rule: the shared factory refuses unknown names and taps a projector does not take.
    with pytest.raises(ValueError, match="expected a projector for"):
        make_projector(name, in_dim=2, out_dim=3, ndim=ndim)


@pytest.mark.parametrize(
    ("name", "projector"), [("nst", "conv1x1"), ("gram", "linear"), ("cwd", "conv1x1_bn")]
)
def test_unknown_projector_is_a_config_error(name: str, projector: str) -> None:
    # Rule: only the projectors a loss lists are accepted.
    with pytest.raises(ConfigError) as info:
        _build(name, (16, 4, 4), (8, 4, 4), projector)
    assert info.value.key == "projector"


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [
        *[("nst", {"degree": v}, "degree") for v in (0, -1, 2.0, 2.5, "2", True, None)],
        *[("nst", {"c": v}, "c") for v in (-0.1, float("nan"), float("inf"), "0", False)],
        *[("ab", {"margin": v}, "margin") for v in (0, -1.0, float("nan"), True, "1")],
        *[("cwd", {"tau": v}, "tau") for v in (0, -4.0, float("inf"), "4", None)],
        *[("vid", {"eps": v}, "eps") for v in (0, -1e-5, float("nan"), True)],
        *[("vid", {"init_var": v}, "init_var") for v in (0, -5.0, float("inf"), "5")],
        ("vid", {"eps": 1e-3, "init_var": 1e-3}, "init_var"),  # variance would start at eps
        ("vid", {"init_var": 1e-6}, "init_var"),  # below the default eps 1e-5
    ],
)
def test_bad_params_are_config_errors(name: str, params: dict, key: str) -> None:
    # Rule: parameter values are checked before anything is built, keyed by the parameter.
    cls = LOSSES.get(name)
    with pytest.raises(ConfigError) as info:
        cls.validate_params(params)
    assert info.value.key == key and info.value.got == repr(params[key])
    with pytest.raises(ConfigError):
        _build(name, (16, 4, 4), (8, 4, 4), **params)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("nst", {"degree": 1, "c": 0}),
        ("nst", {"degree": 4, "c": 2}),
        ("ab", {"margin": 2}),
        ("cwd", {"tau": 1}),
        ("vid", {"eps": 1e-3, "init_var": 1}),
    ],
)
def test_boundary_and_integer_params_are_accepted(name: str, params: dict) -> None:
    # Rule: YAML integers work where floats are expected, and c = 0, degree = 1 are valid.
    _build(name, (16, 4, 4), (8, 4, 4), **params)


# ---- numerics ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW_LOSSES)
@pytest.mark.parametrize("scale", [1e3, 1e-6, 0.0])
def test_finite_on_extreme_inputs(name: str, scale: float) -> None:
    # Rule: huge, tiny and all-zero features give finite values and gradients.
    torch.manual_seed(0)
    loss = _build(name, (16, 4, 4), (8, 4, 4))
    g = torch.Generator().manual_seed(6)
    s = (torch.randn(4, 8, 4, 4, generator=g) * scale).requires_grad_(True)
    t = torch.randn(4, 16, 4, 4, generator=g) * scale
    value = loss(_inputs(s, t))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(s.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in loss.parameters() if p.grad is not None)


def test_nst_is_exact_on_tiny_features() -> None:
    # Rule: the normalisation's floor (1e-12) does not kick in for maps of size 1e-6.
    g = torch.Generator().manual_seed(7)
    s, t = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 5, 4, 4, generator=g)
    assert _value("nst", s * 1e-6, t * 1e-6) == pytest.approx(_value("nst", s, t), rel=1e-5)


@pytest.mark.parametrize("name", NEW_LOSSES)
def test_bf16_features_are_computed_in_float32(name: str) -> None:
    # Rule: the result is float32 whatever the input precision.
    loss = _build(name, (4, 4, 4), (2, 4, 4))
    out = loss(_inputs(torch.randn(2, 2, 4, 4).bfloat16(), torch.randn(2, 4, 4, 4).bfloat16()))
    assert out.dtype == torch.float32


@pytest.mark.parametrize("name", ["nst", "gram"])
def test_matrix_products_stay_float32_under_autocast(name: str) -> None:
    # Rule: the engine's bf16 autocast does not reach the Gram and kernel matrices.
    g = torch.Generator().manual_seed(8)
    s, t = torch.randn(2, 6, 8, 8, generator=g) + 1, torch.randn(2, 6, 8, 8, generator=g)
    loss = _build(name, (6, 8, 8), (6, 8, 8))
    expected = loss(_inputs(s, t)).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert loss(_inputs(s, t)).item() == pytest.approx(expected, rel=1e-5)


if __name__ == "__main__":
    main()
