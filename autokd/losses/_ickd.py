"""Inter-channel correlation distillation, ICKD-C (Liu et al., 2021)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import ClassVar

from torch import Tensor
import torch.nn.functional as F

from autokd.exceptions import ConfigError
from autokd.losses._base import LOSSES
from autokd.losses._base import DistillInputs
from autokd.losses._feature_common import BaseFeatureStatsLoss
from autokd.losses._feature_common import gram_matrix
from autokd.losses._feature_common import resize_to

__all__ = ["ICKDLoss", "ickd_loss"]


def ickd_loss(projected: Tensor, teacher_feat: Tensor, *, normalize: bool = True) -> Tensor:
    """Distance between channel correlation matrices; see :class:`ICKDLoss`.

    Args:
        projected: (B, Ct, Hs, Ws) student activations with the teacher's channel count.
        teacher_feat: (B, Ct, Ht, Wt) teacher activations; detached here.
        normalize: Scale each row of both Gram matrices to unit L2 norm and return the batch
            mean of ``||N_s - N_t||_F^2 / C`` (the authors' code); else the batch mean of
            ``||G_s - G_t||_F^2 / C^2`` on the raw Gram matrices.

    Returns:
        A float32 scalar.
    """
    teacher_feat = teacher_feat.detach()
    g_s = gram_matrix(resize_to(projected.float(), teacher_feat))  # (B, Ct, Ct)
    g_t = gram_matrix(teacher_feat)  # (B, Ct, Ct)
    if not normalize:
        # Sum over the Ct x Ct entries / Ct^2, then mean over B: the mean over (B, Ct, Ct).
        return (g_s - g_t).pow(2).mean()
    # Unit rows; F.normalize's 1e-12 floor (as in the authors' code) keeps a zero row at zero.
    n_s = F.normalize(g_s, dim=2)  # (B, Ct, Ct)
    n_t = F.normalize(g_t, dim=2)  # (B, Ct, Ct)
    # Sum over the Ct x Ct entries / Ct, then mean over B: the authors' sum / (B * Ct).
    return (n_s - n_t).pow(2).sum(dim=(1, 2)).mean() / g_t.shape[1]


@LOSSES.register("ickd")
class ICKDLoss(BaseFeatureStatsLoss):
    """Inter-channel correlation (ICKD-C): match how every pair of channels correlates.

    With ``F`` the (C, H*W) flattened map of one sample, the channel correlation matrix is
    the C x C matrix ``G = F F^T`` of inner products between channel maps (summed over
    positions). By default (``normalize: true``, as in the authors' code) each row ``i`` of
    ``G`` is divided by its L2 norm, ``N[i, :] = G[i, :] / max(||G[i, :]||_2, 1e-12)``, so
    every row is a unit vector describing how channel ``i`` relates to all the others, and

    ``L = (1/B) * sum_b ||N_s[b] - N_t[b]||_F^2 / C``,

    i.e. the squared differences summed over the C x C entries and divided by ``B * C``, the
    reduction of the authors' CIFAR-100 code. Each row contributes at most 4 (the squared
    distance of two unit vectors), so ``0 <= L <= 4`` whatever the feature scale or the
    spatial size, and scaling either compared map by a constant ``a != 0`` multiplies its
    ``G`` by ``a^2 > 0`` and so leaves ``L`` unchanged (above the 1e-12 floor).

    With ``normalize: false`` the raw Gram matrices are compared instead (autokd's earlier
    form): ``L = (1/B) * sum_b ||G_s[b] - G_t[b]||_F^2 / C^2``. Because ``G`` then sums over
    positions, that ``L`` grows like ``(H W)^2`` times the fourth power of the activations;
    pick its weight far below the default range (around 1e-4 to 1).

    The student always goes through a learned projector to the teacher's C channels:
    ``conv1x1`` (1x1 convolution with bias; default) or ``mlp`` (1x1 conv -> ReLU -> 1x1
    conv). The authors' code also projects the student, with a bias-free 1x1 convolution
    followed by BatchNorm. If the spatial sizes differ, the projected map is resized to the
    teacher's (bilinear, ``align_corners=False``) so both sums run over the same positions.
    Computed in float32.

    Paper: L. Liu, Q. Huang, S. Lin, H. Xie, B. Wang, X. Chang, X. Liang, "Exploring
    Inter-Channel Correlation for Diversity-Preserved Knowledge Distillation", ICCV 2021,
    https://arxiv.org/abs/2202.03680. Code: https://github.com/ADLab-AutoDrive/ICKD
    (``Cifar100/distiller_zoo/ICKD.py``: row normalisation and the ``B * C`` divisor).

    Args:
        normalize: Row-normalise the Gram matrices (default true: the authors' form); false
            compares the raw Gram matrices.
        **common: ``teacher_layer``, ``student_layer``, ``teacher_shape``, ``student_shape``
            and ``projector`` (see :class:`BaseDistillLoss`).

    Raises:
        ConfigError: If ``normalize`` is not a bool, for an unknown projector name or for an
            unknown parameter.
        TrialSetupError: If a layer or shape is missing or a tap is not (C, H, W).

    Example:
        .. code-block:: yaml

            distill:
              terms:
                ickd: {weight: 2.5, pair: "stages.2 -> stages.1", projector: conv1x1}
    """

    projectors: ClassVar[tuple[str, ...]] = ("conv1x1", "mlp")
    tap_reason: ClassVar[str] = "it correlates channels over spatial positions"
    # For the normalised form (0 <= L <= 4). The authors train CIFAR-100 with this term at
    # weight 2.5 next to CE at weight 1 (ADLab-AutoDrive/ICKD, Cifar100/README.md and
    # train_student.sh, "-b 2.5"); the range spans 0.04x to 4x that value, log-centred on 1.
    search_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "weight": {"type": "float", "low": 0.1, "high": 10.0, "log": True},
    }

    def __init__(self, *, normalize: bool = True, **common: Any) -> None:
        self.validate_params({"normalize": normalize})
        super().__init__(**common)
        self.normalize = normalize
        self.proj = self._make_proj("conv1x1")

    @classmethod
    def validate_params(cls, params: Mapping[str, object]) -> None:
        super().validate_params(params)
        if "normalize" in params and not isinstance(params["normalize"], bool):
            raise ConfigError("normalize", "true or false", repr(params["normalize"]))

    def forward(self, inputs: DistillInputs) -> Tensor:
        student, teacher = self._pair_feats(inputs)
        return ickd_loss(self.proj(student.float()), teacher, normalize=self.normalize)
