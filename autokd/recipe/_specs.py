"""The parts of a recipe: data, models, optimisation, augmentation, distillation terms."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from typing import Literal

import pydantic
from pydantic import Field

from autokd._config import FrozenModel
from autokd._registry import Registry
from autokd.exceptions import ConfigError
from autokd.exceptions import RegistryError

__all__ = [
    "AugmentSpec",
    "DataSpec",
    "DistillSpec",
    "ModelSpec",
    "OptimSpec",
    "ScheduleSpec",
    "TermSpec",
    "check_path",
    "split_pairs",
]


def _check_name(registry: Registry[Any], name: str, key: str) -> None:
    if name not in registry:
        raise ConfigError(
            key,
            f"a registered {registry.kind} ({', '.join(registry.list())})",
            repr(name),
            hint=_hint(registry, name),
        )


def _hint(registry: Registry[Any], name: str) -> str:
    try:
        registry.get(name)
    except RegistryError as exc:
        msg = str(exc)
        return msg[msg.find("Did you mean") :] if "Did you mean" in msg else ""
    return ""


def check_path(path: str | None) -> str | None:
    """A path field as given: no NUL character, and a leading ``~`` must name a known user.

    Either would make every later use of the path raise (``ValueError``, ``RuntimeError``)
    far from the file that holds it.

    Raises:
        ConfigError: With an empty key (the caller's field names it).
    """
    if path is None:
        return None
    if "\x00" in path:
        raise ConfigError("", "a path without NUL characters", repr(path))
    if path.startswith("~"):
        try:
            Path(path).expanduser()
        except RuntimeError:
            raise ConfigError(
                "", "a path whose leading ~ names a user of this machine", repr(path)
            ) from None
    return path


class DataSpec(FrozenModel):
    """Which dataset, where its files are, and how it is split into train / validation / test.

    The validation part is carved from the training data, stratified and seeded by
    ``split_seed``; the search only ever sees validation accuracy, and the test part is never
    mixed in. ``autokd list datasets`` shows the registered names and what each reads.
    """

    name: str = "digits"
    #: The folder holding the dataset's files (as given; the caller resolves relative paths).
    root: str | None = None
    #: Let torchvision download a missing set into ``root`` (MNIST, Fashion-MNIST, CIFAR).
    download: bool = False
    #: Share of the training images held out for validation.
    val_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    #: Share of all images held out for test, for sets without an official test split.
    test_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    split_seed: int = Field(0, ge=0)
    #: Train on a stratified, seeded subset of this many images (None: all that remain).
    train_size: int | None = Field(None, ge=1)
    #: Train on a stratified, seeded subset of this share of the training images left after
    #: validation is held out (None: all); the same subset as the equivalent ``train_size``.
    train_fraction: float | None = Field(None, gt=0.0, le=1.0)
    #: ImageFolder: resize every image to this square size (required when sizes differ).
    image_size: int | None = Field(None, ge=1, le=4096)
    #: ImageFolder: hold the decoded images in memory; None decides by size.
    in_memory: bool | None = None
    #: DataLoader workers for streamed sets.
    num_workers: int = Field(2, ge=0)
    #: Dataset-specific options, checked by the dataset (``autokd list datasets``).
    params: dict[str, Any] = Field(default_factory=dict)
    #: sha256 of the dataset content and split; a loaded split must match it when set.
    split_hash: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    _root = pydantic.field_validator("root")(check_path)

    @pydantic.field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from autokd.data import DATASETS

        _check_name(DATASETS, name, "")
        return name

    @pydantic.model_validator(mode="after")
    def _known_params(self) -> DataSpec:
        from autokd.data import check_params

        if self.train_size is not None and self.train_fraction is not None:
            raise ConfigError(
                "train_fraction",
                "train_size or train_fraction, not both (each picks the training subset)",
                f"train_fraction={self.train_fraction} with train_size={self.train_size}",
            )
        check_params(self.name, self.params)
        return self


class ModelSpec(FrozenModel):
    """A model family with its width and depth knobs, extra arguments and initial weights.

    ``family`` is a registered family (``autokd list models`` shows each one's knobs and their
    legal values) or ``torchvision.<name>`` for a torchvision classification model. A missing
    ``width`` or ``depth`` takes the family's default, so a validated spec always holds the
    concrete values (None only for a family without that knob). ``params`` are further
    arguments of the family's builder. ``weights`` is a local state_dict file (pinned by
    ``weights_sha256`` when given) that initialises every tensor of matching name and shape.
    """

    family: str = "cnn"
    width: float | None = None
    depth: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    weights: str | None = None
    weights_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    _weights = pydantic.field_validator("weights")(check_path)

    @pydantic.model_validator(mode="after")
    def _resolve_knobs(self) -> ModelSpec:
        from autokd.models import get_family
        from autokd.models import resolve_knobs

        family = get_family(self.family)  # ConfigError with key "family"
        width, depth = resolve_knobs(self.family, self.width, self.depth)
        family.check_params(self.params)  # ConfigError with key "params"
        if self.weights_sha256 is not None and self.weights is None:
            got = f"{self.weights_sha256[:12]}..."
            raise ConfigError("weights_sha256", "no hash (weights is not set)", got)
        # The model is frozen; filling in defaults here keeps every later reader simple.
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "depth", depth)
        return self


class OptimSpec(FrozenModel):
    """Optimiser and learning-rate schedule. ``lr`` refers to ``batch_size`` as given.

    ``lr_schedule``: ``cosine`` (per step, to 0 at the end), ``constant``, or ``step``: the
    learning rate is multiplied by ``lr_gamma`` at each epoch in ``lr_milestones`` (the CIFAR
    benchmark's x0.1 at epochs 150, 180 and 210 of 240).
    """

    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0, lt=1.0)
    lr_schedule: Literal["cosine", "constant", "step"] = "cosine"
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = Field(0.1, gt=0.0, le=1.0)
    epochs: int = Field(15, ge=1, le=10_000)
    batch_size: int = Field(64, ge=1)
    #: Clip the global gradient norm (student and loss parts) to this value; None: no clip.
    #: The default 10 lies above the norms of healthy runs (measured on digits: up to 4.3
    #: training a teacher, 2.2 with KD, 7.6 with DKD, so it changes nothing there) and stops
    #: strong feature weights from blowing a trial up (FitNets x100: 26, AT x500: 170).
    grad_clip: float | None = Field(10.0, gt=0.0)

    @pydantic.model_validator(mode="after")
    def _milestones(self) -> OptimSpec:
        ms = self.lr_milestones
        if self.lr_schedule == "step" and not ms:
            raise ConfigError(
                "lr_milestones",
                "epochs at which lr is multiplied by lr_gamma (lr_schedule is 'step')",
                "nothing",
            )
        if self.lr_schedule != "step" and ms:
            raise ConfigError(
                "lr_milestones",
                f"no milestones (lr_schedule is '{self.lr_schedule}', not 'step')",
                str(list(ms)),
            )
        if any(b <= a for a, b in zip(ms, ms[1:], strict=False)) or (
            ms and not (0 < ms[0] and ms[-1] < self.epochs)
        ):
            raise ConfigError(
                "lr_milestones",
                f"increasing epochs between 1 and {self.epochs - 1} (epochs is {self.epochs})",
                str(list(ms)),
            )
        return self

    def lr_at(self, progress: float) -> float:
        """The learning rate at training progress ``progress`` in [0, 1)."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
        if self.lr_schedule == "step":
            epoch = progress * self.epochs
            passed = sum(1 for m in self.lr_milestones if epoch >= m - 1e-9)
            return self.lr * self.lr_gamma**passed
        return self.lr


class AugmentSpec(FrozenModel):
    """Batched augmentation, seeded by (recipe seed, epoch) so trials see the same batches.

    ``crop``: pad each side by this many (black) pixels and crop back at a random offset, the
    standard CIFAR augmentation with 4; ``flip``: mirror left-right with probability 1/2;
    ``cutout``: zero a square of this side at a random centre (DeVries & Taylor, 2017,
    arXiv:1708.04552), clipped at the borders; 0 turns each off.
    """

    crop: int = Field(0, ge=0, le=16)
    flip: bool = False
    cutout: int = Field(0, ge=0, le=64)


class ScheduleSpec(pydantic.BaseModel):
    """A value that may change over training: ``{schedule: NAME, **params}`` or a bare number.

    A bare number ``4.0`` means ``{schedule: constant, value: 4.0}``. The parameters are those
    of the registered schedule (see ``autokd list schedules``).
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="allow")

    schedule: str = "constant"

    @pydantic.model_validator(mode="before")
    @classmethod
    def _number_is_constant(cls, data: Any) -> Any:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return {"schedule": "constant", "value": float(data)}
        if not isinstance(data, dict):
            raise ConfigError("", "a number or a mapping {schedule: NAME, ...}", repr(data))
        return data

    @pydantic.model_validator(mode="after")
    def _valid(self) -> ScheduleSpec:
        self.build()  # raises ConfigError on an unknown name or bad parameters
        return self

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def build(self) -> Any:
        """Returns the schedule object (a callable of training progress in [0, 1])."""
        from autokd.engine._schedules import build_schedule

        return build_schedule({"schedule": self.schedule, **self.params})

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value over training (the registered schedules are monotone)."""
        fn = self.build()
        ends = (fn(0.0), fn(1.0))
        return min(ends), max(ends)


def split_pairs(pair: str) -> list[tuple[str, ...]]:
    """``"t1 -> s1; t2 -> s2"`` as ``[("t1", "s1"), ("t2", "s2")]``, names stripped.

    A malformed part (no arrow, or several) comes back with other than two names; callers
    that need valid pairs check the lengths.
    """
    return [tuple(p.strip() for p in one.split("->")) for one in pair.split(";")]


class TermSpec(FrozenModel):
    """One distillation loss term: a registered loss, its weight, parameters and layer pair.

    ``pair`` reads ``"teacher.module -> student.module"`` (module names as in
    ``model.named_modules()``); several pairs joined by ``;`` build one loss per pair and add
    them up. ``loss`` defaults to the term's key in ``distill.terms``.
    """

    loss: str | None = None
    enabled: bool = True
    weight: ScheduleSpec = Field(default_factory=lambda: ScheduleSpec(value=1.0))
    pair: str | None = None
    projector: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @pydantic.field_validator("pair")
    @classmethod
    def _pair_form(cls, pair: str | None) -> str | None:
        if pair is None:
            return None
        normalised = []
        for parts in split_pairs(pair):
            if len(parts) != 2 or not all(parts):
                raise ConfigError(
                    "", "'teacher.module -> student.module' (several joined by ';')", repr(pair)
                )
            normalised.append(f"{parts[0]} -> {parts[1]}")
        return "; ".join(normalised)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """[(teacher_layer, student_layer), ...]; several pairs are summed (e.g. AT's sum over
        stages); empty without a pair."""
        return [] if self.pair is None else split_pairs(self.pair)  # type: ignore[return-value]


class DistillSpec(FrozenModel):
    """Temperature and alpha (each a schedule), the cross-entropy weight and the loss terms.

    The training loss is ``(1 - alpha) * CE + alpha * sum(w * L over response terms at
    temperature T) + sum(w * L over feature terms)``. With no enabled response term the
    cross-entropy keeps full weight and alpha is unused.

    ``ce_weight`` sets the cross-entropy's weight on its own, as most papers write their loss
    (DKD: ``1 * CE + DKD``; the CRD benchmark: ``gamma * CE + alpha * KD + beta * other``):
    the loss is then ``ce_weight * CE + alpha * sum(w * L over response terms) + sum(w * L
    over feature terms)``, and alpha (usually 1) only scales the response terms. ``None``
    (the default) keeps the ``(1 - alpha)`` form, so recipes written before it are unchanged.
    """

    temperature: ScheduleSpec = Field(default_factory=lambda: ScheduleSpec(value=4.0))
    alpha: ScheduleSpec = Field(default_factory=lambda: ScheduleSpec(value=0.0))
    #: The cross-entropy's own weight; None: ``1 - alpha`` (1 without response terms).
    ce_weight: float | None = Field(None, ge=0.0, le=1000.0)
    terms: dict[str, TermSpec] = Field(default_factory=dict)

    @pydantic.model_validator(mode="after")
    def _valid(self) -> DistillSpec:
        low, high = self.temperature.bounds()
        if low <= 0:
            raise ConfigError("temperature", "a temperature > 0 throughout training", str(low))
        low, high = self.alpha.bounds()
        if low < 0 or high > 1:
            raise ConfigError("alpha", "alpha within [0, 1] throughout training", f"{low}..{high}")
        for key, term in self.terms.items():
            self._check_term(key, term)
        return self

    @staticmethod
    def _check_term(key: str, term: TermSpec) -> None:
        from autokd.losses import LOSSES

        name = term.loss or key
        where = f"terms.{key}"
        _check_name(LOSSES, name, f"{where}.loss" if term.loss else where)
        cls = LOSSES.get(name)
        if not term.enabled:  # a switched-off term may be incomplete; it never runs
            return
        if term.weight.bounds()[0] < 0:
            raise ConfigError(f"{where}.weight", "a weight >= 0", str(term.weight.bounds()[0]))
        if cls.needs_pair and term.pair is None:
            raise ConfigError(f"{where}.pair", "'teacher.module -> student.module'", "nothing")
        if cls.joint_pairs is not None and term.pair is not None:
            low, high = cls.joint_pairs
            n = len(term.pairs)
            if n < low or (high is not None and n > high):
                count = f"{low}" if low == high else f"{low} to {high or 'any number of'}"
                raise ConfigError(
                    f"{where}.pair",
                    f"{count} pairs joined by ';' ('{name}' reads them jointly)",
                    f"{n} pair(s)",
                )
        if not cls.needs_pair and term.pair is not None:
            raise ConfigError(f"{where}.pair", f"no pair ('{name}' uses logits)", repr(term.pair))
        if term.projector is not None and term.projector not in cls.projectors:
            allowed = ", ".join(cls.projectors) or "none"
            raise ConfigError(f"{where}.projector", f"one of: {allowed}", repr(term.projector))
        try:
            cls.validate_params(term.params)
        except ConfigError as exc:
            raise exc.in_file("", f"{where}.params") from None

    def active_terms(self) -> dict[str, TermSpec]:
        """The enabled terms, by key."""
        return {k: t for k, t in self.terms.items() if t.enabled}
