"""The Recipe: one frozen, validated object that fully determines a distillation run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
from pydantic import Field
import yaml

from autokd._config import FrozenModel
from autokd._config import load_yaml
from autokd._config import parse_model
from autokd.exceptions import ConfigError
from autokd.recipe._specs import AugmentSpec
from autokd.recipe._specs import DataSpec
from autokd.recipe._specs import DistillSpec
from autokd.recipe._specs import ModelSpec
from autokd.recipe._specs import OptimSpec
from autokd.recipe._specs import check_path

__all__ = ["SCHEMA_VERSION", "Recipe", "TeacherSpec"]

SCHEMA_VERSION = 1


class TeacherSpec(FrozenModel):
    """A frozen teacher: its architecture and a checkpoint pinned by SHA-256.

    ``checkpoint`` is a state_dict file; a relative path is resolved against the folder of the
    recipe file that names it.
    """

    model: ModelSpec
    checkpoint: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    val_acc: float | None = None
    test_acc: float | None = None

    _checkpoint = pydantic.field_validator("checkpoint")(check_path)


class Recipe(FrozenModel):
    """Everything one distillation run needs; a trial *is* a recipe.

    Example:
        >>> from autokd import Recipe
        >>> recipe = Recipe.from_yaml("best.yaml")  # doctest: +SKIP
        >>> recipe.with_overrides(seed=1).seed  # doctest: +SKIP
        1
    """

    schema_version: int = SCHEMA_VERSION
    data: DataSpec = Field(default_factory=DataSpec)
    teacher: TeacherSpec | None = None
    student: ModelSpec = Field(default_factory=ModelSpec)
    optim: OptimSpec = Field(default_factory=OptimSpec)
    augment: AugmentSpec = Field(default_factory=AugmentSpec)
    distill: DistillSpec = Field(default_factory=DistillSpec)
    seed: int = Field(0, ge=0)
    provenance: dict[str, Any] = Field(default_factory=dict)

    @pydantic.field_validator("schema_version")
    @classmethod
    def _schema(cls, version: int) -> int:
        if version != SCHEMA_VERSION:
            raise ConfigError("", f"schema version {SCHEMA_VERSION}", str(version))
        return version

    @pydantic.model_validator(mode="after")
    def _teacher_when_needed(self) -> Recipe:
        if self.needs_teacher and self.teacher is None:
            raise ConfigError("teacher", "a teacher (the recipe has distillation terms)", "none")
        return self

    @property
    def needs_teacher(self) -> bool:
        """Whether any enabled term reads the teacher (response terms only when alpha > 0)."""
        from autokd.losses import LOSSES

        alpha_on = self.distill.alpha.bounds()[1] > 0
        for key, term in self.distill.active_terms().items():
            kind = LOSSES.get(term.loss or key).kind
            if kind != "response" or alpha_on:
                return True
        return False

    # --- YAML round trip -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML-safe dict; ``Recipe.from_dict(r.to_dict()) == r``."""
        return self.model_dump(mode="json")

    def to_yaml(self, path: str | Path | None = None) -> str:
        """Returns the YAML text and writes it to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: Any, *, file: str = "<recipe>") -> Recipe:
        """Validates a mapping into a Recipe.

        Raises:
            ConfigError: Naming ``file`` and the key path of the first problem.
        """
        return parse_model(cls, data, file=file)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Recipe:
        """Loads a recipe file; a relative checkpoint or data root is read from its folder."""
        path = Path(path)
        recipe = cls.from_dict(load_yaml(path), file=str(path))
        root = recipe.data.root
        if root is not None and not Path(root).expanduser().is_absolute():
            data = recipe.data.model_copy(update={"root": str((path.parent / root).resolve())})
            recipe = recipe.model_copy(update={"data": data})
        if recipe.teacher is not None and not Path(recipe.teacher.checkpoint).is_absolute():
            ckpt = str((path.parent / recipe.teacher.checkpoint).resolve())
            recipe = recipe.model_copy(
                update={"teacher": recipe.teacher.model_copy(update={"checkpoint": ckpt})}
            )
        return recipe

    def with_overrides(self, *, seed: int | None = None, epochs: int | None = None) -> Recipe:
        """A validated copy with another seed and/or number of epochs.

        A step schedule's milestones keep their place in training: each moves to
        ``round(m * epochs / old_epochs)`` (150/180/210 of 240 become 19/22/26 of 30);
        milestones that fall together merge, and with one epoch the schedule is constant.
        """
        data = self.to_dict()
        if seed is not None:
            data["seed"] = seed
        if epochs is not None:
            optim = data["optim"]
            old, milestones = optim["epochs"], optim.get("lr_milestones") or ()
            optim["epochs"] = epochs
            if milestones and epochs != old:
                moved = sorted(
                    {min(max(round(m * epochs / old), 1), epochs - 1) for m in milestones}
                )
                optim["lr_milestones"] = moved if epochs > 1 else []
                if epochs == 1:
                    optim["lr_schedule"] = "constant"
        return Recipe.from_dict(data, file="<overrides>")

    def without_distillation(self) -> Recipe:
        """The same student and training, alpha 0 and no terms: the no-KD baseline."""
        data = self.to_dict()
        data["distill"] = {"alpha": 0.0, "terms": {}}
        data["provenance"] = {**self.provenance, "baseline_of": "no distillation"}
        return Recipe.from_dict(data, file="<baseline>")

    def with_standard_kd(self, *, temperature: float = 4.0, alpha: float = 0.9) -> Recipe:
        """The same student and training with plain KD (Hinton et al., 2015) only: the
        hand-tuned default (T=4, alpha=0.9) many papers and codebases copy."""
        data = self.to_dict()
        data["distill"] = {
            "temperature": temperature,
            "alpha": alpha,
            "terms": {"kd": {"weight": 1.0}},
        }
        data["provenance"] = {
            **self.provenance,
            "baseline_of": f"KD T={temperature:g} alpha={alpha:g}",
        }
        return Recipe.from_dict(data, file="<baseline>")

    def flat_params(self) -> dict[str, Any]:
        """The recipe as ``{dotted.path: value}`` (MLflow params, report rows)."""
        out: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict) and value:
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = value

        data = self.to_dict()
        data.pop("provenance")
        walk("", data)
        return out
