"""The base class of every distillation loss, its inputs, and the loss registry.

The engine combines the enabled terms of a recipe into one training loss::

    total = (1 - alpha) * CE(student_logits, targets)
            + alpha * sum(weight_i * L_i over response terms, each at temperature T)
            + sum(weight_j * L_j over feature terms)

With ``distill.ce_weight`` set, the cross-entropy takes that weight instead of ``1 - alpha``.
A loss only computes its own ``L``; weights, alpha and temperature come from schedules in
:mod:`autokd.engine` and never live inside a loss.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
import dataclasses
import inspect
from typing import Any
from typing import ClassVar

import torch
from torch import Tensor

from autokd._registry import Registry
from autokd._registry import closest
from autokd.exceptions import ConfigError
from autokd.exceptions import TrialSetupError

__all__ = ["LOSSES", "BaseDistillLoss", "DistillInputs"]

LOSSES: Registry[type[BaseDistillLoss]] = Registry(
    "loss",
    hidden_params=(
        "teacher_layer",
        "student_layer",
        "teacher_shape",
        "student_shape",
        "projector",
    ),
)

# Constructor arguments every loss accepts; they are not loss parameters.
_COMMON = ("teacher_layer", "student_layer", "teacher_shape", "student_shape", "projector")


@dataclasses.dataclass(frozen=True)
class DistillInputs:
    """Everything a loss may read in one training step.

    Args:
        student_logits: (B, K) student logits.
        teacher_logits: (B, K) teacher logits; no gradient flows into them.
        targets: (B,) int64 class labels.
        student_feats: Tapped student module name -> its output, e.g. (B, C, H, W).
        teacher_feats: Tapped teacher module name -> its output (no gradient).
        temperature: Softening temperature T of response losses at this step.
        indices: (B,) int64 positions of the batch's samples in the training set (losses
            with a memory bank, such as CRD, key it by them); ``None`` outside training.
        num_samples: Size N of the training set; ``None`` outside training.
    """

    student_logits: Tensor
    teacher_logits: Tensor
    targets: Tensor
    student_feats: Mapping[str, Tensor]
    teacher_feats: Mapping[str, Tensor]
    temperature: float
    indices: Tensor | None = None
    num_samples: int | None = None


class BaseDistillLoss(torch.nn.Module, abc.ABC):
    """A distillation loss term ``L``; the engine weights and sums the terms.

    The total loss is ``(1 - alpha) * CE + alpha * sum(w_i * L_i over response terms, at
    temperature T) + sum(w_j * L_j over feature terms)``. A feature loss with learnable parts
    (a projector) is an ``nn.Module`` whose parameters the engine trains with the student.

    Class attributes:
        kind: ``"response"`` (reads logits) or ``"feature"`` (reads a tapped layer pair).
        needs_pair: Whether ``teacher_layer`` and ``student_layer`` (and shapes) are required.
        projectors: Accepted projector names; ``()`` means the loss takes none.
        search_defaults: Default search ranges in the search-space format, e.g.
            ``{"weight": {"type": "float", "low": 0.1, "high": 100.0, "log": True}}``.

    Args:
        teacher_layer: Tapped teacher module name (``model.named_modules()`` form).
        student_layer: Tapped student module name.
        teacher_shape: Shape of the teacher tap without the batch dim, ``(C, H, W)`` or ``(D,)``.
        student_shape: Shape of the student tap without the batch dim.
        projector: Name of the student-side projector, one of :attr:`projectors`.
        **params: Loss parameters, as keyword arguments of the subclass.

    Raises:
        ConfigError: For an unknown parameter or projector name.
        TrialSetupError: If the loss needs a pair and a layer or shape is missing.
    """

    kind: ClassVar[str]
    needs_pair: ClassVar[bool]
    projectors: ClassVar[tuple[str, ...]] = ()
    search_defaults: ClassVar[dict[str, dict[str, Any]]]
    #: ``None``: one instance per layer pair of the term (several pairs are summed).
    #: ``(min, max)``: one instance reads all the term's pairs jointly (FSP's two layers per
    #: network); it then gets tuples of layer names and of shapes, in pair order.
    joint_pairs: ClassVar[tuple[int, int | None] | None] = None

    def __init__(
        self,
        *,
        teacher_layer: str | None = None,
        student_layer: str | None = None,
        teacher_shape: tuple[int, ...] | None = None,
        student_shape: tuple[int, ...] | None = None,
        projector: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__()
        cls = type(self)
        cls.validate_params(params)
        # Subclasses take their own parameters as named arguments, so anything left is unknown.
        assert not params, f"{cls.__name__} forwarded its parameters {sorted(params)} to base"
        if projector is not None and projector not in cls.projectors:
            allowed = ", ".join(cls.projectors) or f"no projector ({cls.__name__} takes none)"
            hint = closest(projector, cls.projectors).strip() if isinstance(projector, str) else ""
            raise ConfigError("projector", f"one of: {allowed}", repr(projector), hint=hint)
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer
        self.teacher_shape = tuple(teacher_shape) if teacher_shape is not None else None
        self.student_shape = tuple(student_shape) if student_shape is not None else None
        self.projector = projector
        if cls.needs_pair and None in (teacher_layer, student_layer, teacher_shape, student_shape):
            raise self._pair_error("it needs both layers and both shapes")

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """The loss parameters: keyword-only arguments of ``__init__`` beyond the common five."""
        params = inspect.signature(cls.__init__).parameters.values()
        return tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in _COMMON)

    @classmethod
    def validate_params(cls, params: Mapping[str, object]) -> None:
        """Checks loss parameters before a trial builds the loss.

        The base implementation rejects unknown names; subclasses add value checks.

        Args:
            params: Parameter name -> value, as written under ``params:`` in a recipe term.

        Raises:
            ConfigError: With ``key`` the parameter name, for an unknown name (the hint names
                the closest valid one), a wrong type or a bad value.
        """
        valid = cls.param_names()
        for key, value in params.items():
            if key not in valid:
                expected = f"one of: {', '.join(valid)}" if valid else "no parameters"
                raise ConfigError(
                    str(key),
                    f"a parameter of {cls.__name__} ({expected})",
                    repr(value),
                    hint=closest(str(key), valid).strip(),
                )

    @abc.abstractmethod
    def forward(self, inputs: DistillInputs) -> Tensor:
        """Computes the unweighted loss term.

        Args:
            inputs: Logits, targets, tapped features and temperature of one step.

        Returns:
            A scalar tensor; gradients flow to the student (and the loss's own parameters),
            never to the teacher.
        """

    @property
    def required_taps(self) -> tuple[tuple[str, str], ...]:
        """``((teacher_layer, "teacher"), (student_layer, "student"))``, or ``()``; a joint
        loss lists every layer of its pairs."""
        if not self.needs_pair or self.teacher_layer is None or self.student_layer is None:
            return ()
        if isinstance(self.teacher_layer, tuple):
            return tuple((t, "teacher") for t in self.teacher_layer) + tuple(
                (s, "student") for s in self.student_layer
            )
        return ((self.teacher_layer, "teacher"), (self.student_layer, "student"))

    def _pair_error(self, reason: str) -> TrialSetupError:
        return TrialSetupError(
            f"{type(self).__name__} cannot pair teacher '{self.teacher_layer}' "
            f"{self.teacher_shape} with student '{self.student_layer}' {self.student_shape}: "
            f"{reason}"
        )

    def _joint_error(self, reason: str) -> TrialSetupError:
        return TrialSetupError(
            f"{type(self).__name__} cannot use teacher layers {self.teacher_layer} with shapes "
            f"{self.teacher_shape} and student layers {self.student_layer} with shapes "
            f"{self.student_shape}: {reason}"
        )

    def _joint_feats(self, inputs: DistillInputs) -> tuple[list[Tensor], list[Tensor]]:
        """(student features, detached teacher features) of a joint loss, in pair order."""
        s_names, t_names = tuple(self.student_layer or ()), tuple(self.teacher_layer or ())
        missing = [n for n in s_names if n not in inputs.student_feats]
        missing += [n for n in t_names if n not in inputs.teacher_feats]
        if missing:
            raise TrialSetupError(
                f"{type(self).__name__} needs the taps teacher {t_names} and student "
                f"{s_names}, but got teacher taps {sorted(inputs.teacher_feats)} and student "
                f"taps {sorted(inputs.student_feats)}"
            )
        student = [inputs.student_feats[n] for n in s_names]
        return student, [inputs.teacher_feats[n].detach() for n in t_names]

    def _pair_feats(self, inputs: DistillInputs) -> tuple[Tensor, Tensor]:
        """(student feature, detached teacher feature) of this loss's layer pair."""
        student = inputs.student_feats.get(str(self.student_layer))
        teacher = inputs.teacher_feats.get(str(self.teacher_layer))
        if student is None or teacher is None:
            raise TrialSetupError(
                f"{type(self).__name__} needs the taps teacher '{self.teacher_layer}' and "
                f"student '{self.student_layer}', but got teacher taps "
                f"{sorted(inputs.teacher_feats)} and student taps {sorted(inputs.student_feats)}"
            )
        return student, teacher.detach()
