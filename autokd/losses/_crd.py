"""Contrastive representation distillation (CRD): NCE against memory banks of embeddings."""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any
from typing import ClassVar

import torch
from torch import Tensor
from torch import nn
import torch.nn.functional as F

from autokd.exceptions import ConfigError
from autokd.exceptions import TrialSetupError
from autokd.losses._base import LOSSES
from autokd.losses._base import BaseDistillLoss
from autokd.losses._base import DistillInputs
from autokd.losses._relation_math import require_int
from autokd.losses._relation_math import require_number

__all__ = ["NCE_EPS", "CRDLoss", "nce_loss"]

# Added to the NCE denominators, as in the authors' code (crd/criterion.py).
NCE_EPS = 1e-7


def nce_loss(log_scores: Tensor, *, num_samples: int) -> Tensor:
    """CRD's NCE loss of one side, from log normalised scores.

    With ``x = exp(log_scores)`` (column 0 the positive, columns 1..K the negatives),
    ``P(x) = x / (x + K * Pn + eps)``, ``Pn = 1 / num_samples`` and ``eps = 1e-7``:
    ``L = -mean_b [log P(x_b0) + sum_{k >= 1} log(1 - P(x_bk))]``. Computed in log space
    (``logaddexp``), so huge or tiny scores give finite values and gradients.

    Args:
        log_scores: (B, 1 + K) ``log(exp(<anchor, row> / nce_t) / Z)``.
        num_samples: N, the size of the set the negatives are drawn from.

    Returns:
        A float scalar: the loss averaged over the B anchors, summed over the negatives.
    """
    k = log_scores.shape[1] - 1
    log_c = math.log(k / num_samples + NCE_EPS)  # log(K * Pn + eps)
    log_denom = torch.logaddexp(log_scores, torch.full_like(log_scores, log_c))  # (B, 1 + K)
    log_pos = log_scores[:, 0] - log_denom[:, 0]  # (B,) log P(pos)
    log_neg = log_c - log_denom[:, 1:]  # (B, K) log(1 - P(neg))
    return -(log_pos + log_neg.sum(dim=1)).mean()


def _embed(feat: Tensor) -> Tensor:
    """(B, C, H, W) -> global-average-pooled (B, C); (B, D) unchanged; float32."""
    feat = feat.float()
    return feat.mean(dim=(2, 3)) if feat.dim() == 4 else feat


def _log_z(logits: Tensor, num_samples: int) -> Tensor:
    """log(mean(exp(logits)) * N), detached: the normalising constant Z, in log space."""
    flat = logits.detach().flatten()
    return torch.logsumexp(flat, dim=0) - math.log(flat.numel()) + math.log(num_samples)


@LOSSES.register("crd")
class CRDLoss(BaseDistillLoss):
    """Contrastive representation distillation: tell each sample's teacher view from others.

    Each tap is reduced to (B, D) (4-D taps global-average-pooled, 2-D taps as they are) and
    mapped by a learnable head ``Linear(D, feat_dim)`` + L2 normalisation to ``e_s`` (student)
    and ``e_t`` (teacher). Two memory banks of shape ``(N, feat_dim)`` hold a running
    embedding of every training sample: ``M_s`` (student) and ``M_t`` (teacher). For anchor
    ``i`` (its position in the training set) and rows ``j`` in ``{i} + K negatives``, the
    scores are ``x = exp(<e_s_i, M_t_j> / nce_t) / Z_s`` (student side) and
    ``exp(<e_t_i, M_s_j> / nce_t) / Z_t`` (teacher side); the positive is the bank row of the
    sample itself. Each side's NCE loss (see :func:`nce_loss`) is
    ``-mean_i [log P(x_i0) + sum_k log(1 - P(x_ik))]``, ``P(x) = x / (x + K / N + 1e-7)``,
    and ``L = L_student + L_teacher``.

    - Negatives: ``K = min(n_negatives, N - 1)`` per anchor, drawn uniformly with replacement
      from the other N - 1 samples. The authors' code draws from all N, the anchor itself
      included. They come from the loss's own generator, seeded once from torch's global RNG
      when the loss is built (so ``torch.manual_seed`` before building fixes them), not from
      the global RNG at each step, which concurrent trials in other threads share.
    - Banks: registered buffers (state, not parameters), created at the first forward that
      has ``indices`` and ``num_samples``, on the inputs' device, drawn from the same
      generator uniform in
      ``[-stdv, stdv]``, ``stdv = 1 / sqrt(feat_dim / 3)``, not normalised (as in the
      authors' code; E||row||^2 = 1). After the loss is computed, the batch's rows become
      ``normalise(momentum * row + (1 - momentum) * e.detach())``, without autograd.
    - Z: ``mean(scores) * N`` over all (B, 1 + K) scores of the first bank batch, per side,
      then fixed; stored as ``log Z`` buffers so a small ``nce_t`` cannot overflow it.
    - Without ``indices`` (conformance probes, evaluation) the batch is its own bank: rows
      are the other view's detached embeddings of the batch, positives on the diagonal, the
      other B - 1 samples the negatives, N = B and Z = mean(scores) * B from that batch. The
      banks and Z are left untouched.

    Math runs in float32 with autocast off. The teacher tap is detached; gradients reach the
    student tap and both heads.

    Paper: Y. Tian, D. Krishnan, P. Isola, "Contrastive Representation Distillation",
    ICLR 2020, https://arxiv.org/abs/1910.10699.

    Args:
        feat_dim: Embedding size, an integer >= 1.
        n_negatives: Negatives per anchor, an integer >= 1 (4096 in the paper), clipped to
            N - 1.
        nce_t: Temperature of the scores, > 0.
        momentum: Bank momentum, in [0, 1).
        **common: Layers and shapes (see :class:`BaseDistillLoss`); no projector.

    Raises:
        ConfigError: For a bad parameter.
        TrialSetupError: If a layer or shape is missing or a tap is neither (C, H, W) nor
            (D,); at forward, if ``indices`` comes without ``num_samples`` (or the reverse)
            or ``num_samples`` differs from the banks' N.

    Example:
        .. code-block:: yaml

            distill:
              terms:
                crd:
                  weight: 0.8
                  pair: "pool -> pool"
                  params: {feat_dim: 128, n_negatives: 1024}
    """

    kind: ClassVar[str] = "feature"
    needs_pair: ClassVar[bool] = True
    search_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "weight": {"type": "float", "low": 0.1, "high": 10.0, "log": True},
        "nce_t": {"type": "float", "low": 0.03, "high": 0.3, "log": True},
        "feat_dim": {"type": "int", "low": 32, "high": 256, "log": True},
    }

    bank_s: Tensor | None
    bank_t: Tensor | None
    log_z_s: Tensor | None
    log_z_t: Tensor | None

    def __init__(
        self,
        *,
        feat_dim: int = 128,
        n_negatives: int = 1024,
        nce_t: float = 0.07,
        momentum: float = 0.5,
        **common: Any,
    ) -> None:
        params = {"feat_dim": feat_dim, "n_negatives": n_negatives, "nce_t": nce_t}
        self.validate_params({**params, "momentum": momentum})
        super().__init__(**common)
        s_shape, t_shape = self.student_shape or (), self.teacher_shape or ()
        if len(s_shape) not in (1, 3) or len(t_shape) not in (1, 3):
            raise self._pair_error("it needs (C, H, W) or (D,) taps on each side")
        self.feat_dim, self.n_negatives = int(feat_dim), int(n_negatives)
        self.nce_t, self.momentum = float(nce_t), float(momentum)
        self.embed_s = nn.Linear(s_shape[0], self.feat_dim)
        self.embed_t = nn.Linear(t_shape[0], self.feat_dim)
        for name in ("bank_s", "bank_t", "log_z_s", "log_z_t"):
            self.register_buffer(name, None)  # filled by init_memory
        # Banks and negatives draw from a generator of their own (made on the banks' device).
        self._seed = int(torch.randint(0, 2**62, (1,)).item())
        self._generator: torch.Generator | None = None

    @classmethod
    def validate_params(cls, params: Mapping[str, object]) -> None:
        super().validate_params(params)
        for key in ("feat_dim", "n_negatives"):
            if key in params:
                require_int(key, params[key], low=1)
        if "nce_t" in params:
            require_number("nce_t", params["nce_t"], low=0.0, strict=True)
        m = params.get("momentum", 0.0)
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m < 1:
            raise ConfigError("momentum", "a number >= 0 and < 1", repr(m))

    def init_memory(self, num_samples: int, device: torch.device | str) -> None:
        """(Re)creates both banks, (N, feat_dim) float32 on ``device``, and unsets Z.

        ``forward`` calls it at the first step that has ``indices``; rows are drawn uniformly
        in ``[-stdv, stdv]``, ``stdv = 1 / sqrt(feat_dim / 3)``, from the loss's generator,
        restarted from the seed it drew when built.

        Args:
            num_samples: N, the training-set size.
            device: Where the banks live (the taps' device).
        """
        stdv = 1.0 / math.sqrt(self.feat_dim / 3)
        shape = (num_samples, self.feat_dim)
        gen = self._generator = torch.Generator(device=device).manual_seed(self._seed)
        self.bank_s = (torch.rand(shape, generator=gen, device=device) * 2 - 1) * stdv
        self.bank_t = (torch.rand(shape, generator=gen, device=device) * 2 - 1) * stdv
        self.log_z_s = self.log_z_t = None

    def forward(self, inputs: DistillInputs) -> Tensor:
        student, teacher = self._pair_feats(inputs)
        idx, n = inputs.indices, inputs.num_samples
        if (idx is None) != (n is None):
            raise TrialSetupError(
                f"{type(self).__name__} needs both indices and num_samples, or neither, "
                f"but got indices {'None' if idx is None else 'set'} and num_samples {n}"
            )
        with torch.autocast(student.device.type, enabled=False):
            e_s = F.normalize(self.embed_s(_embed(student)), dim=1)  # (B, feat_dim)
            e_t = F.normalize(self.embed_t(_embed(teacher)), dim=1)  # (B, feat_dim)
            if idx is None or n is None:
                return self._in_batch(e_s, e_t)
            return self._with_memory(e_s, e_t, idx, n)

    def _in_batch(self, e_s: Tensor, e_t: Tensor) -> Tensor:
        b = e_s.shape[0]
        off = ~torch.eye(b, dtype=torch.bool, device=e_s.device)  # (B, B)
        total = e_s.new_zeros(())
        for anchor, rows in ((e_s, e_t.detach()), (e_t, e_s.detach())):
            logits = anchor @ rows.T / self.nce_t  # (B, B), positives on the diagonal
            pos_neg = torch.cat([logits.diagonal()[:, None], logits[off].view(b, b - 1)], 1)
            total = total + nce_loss(pos_neg - _log_z(logits, b), num_samples=b)
        return total

    def _with_memory(self, e_s: Tensor, e_t: Tensor, idx: Tensor, n: int) -> Tensor:
        if self.bank_s is None:
            self.init_memory(n, e_s.device)
        assert self.bank_s is not None and self.bank_t is not None
        if self.bank_s.shape[0] != n:
            raise TrialSetupError(
                f"{type(self).__name__} built its memory banks for {self.bank_s.shape[0]} "
                f"samples, but got num_samples={n}; use a new loss for another training set"
            )
        b, k = idx.shape[0], min(self.n_negatives, n - 1)
        # Uniform over the other N - 1 samples: draw in [0, N - 1), skip the anchor's index.
        neg = torch.randint(
            max(n - 1, 1), (b, k), generator=self._generator, device=idx.device
        )  # (B, K)
        neg = neg + (neg >= idx[:, None]).long()
        rows = torch.cat([idx[:, None], neg], dim=1)  # (B, 1 + K), positive first
        logits_s = torch.bmm(self.bank_t[rows], e_s[:, :, None])[..., 0] / self.nce_t
        logits_t = torch.bmm(self.bank_s[rows], e_t[:, :, None])[..., 0] / self.nce_t
        if self.log_z_s is None or self.log_z_t is None:
            self.log_z_s, self.log_z_t = _log_z(logits_s, n), _log_z(logits_t, n)
        loss = nce_loss(logits_s - self.log_z_s, num_samples=n) + nce_loss(
            logits_t - self.log_z_t, num_samples=n
        )
        with torch.no_grad():
            for bank, e in ((self.bank_s, e_s), (self.bank_t, e_t)):
                new = self.momentum * bank[idx] + (1 - self.momentum) * e.detach()  # (B, d)
                bank.index_copy_(0, idx, F.normalize(new, dim=1))
        return loss
