"""Validation of a whole study before anything is written: space, recipes, layer names."""

from __future__ import annotations

import optuna
import torch

from autokd.config import StudyConfig
from autokd.data import dataset_shape
from autokd.engine._pairs import probe_shapes
from autokd.engine._pairs import propose_pairs
from autokd.exceptions import ConfigError
from autokd.losses import LOSSES
from autokd.models import build_model
from autokd.recipe import ModelSpec
from autokd.recipe import TeacherSpec
from autokd.space import SearchSpace
from autokd.study._recipes import PLACEHOLDER_SHA
from autokd.study._recipes import recipe_from_trial

__all__ = ["check_study"]


def check_study(config: StudyConfig) -> SearchSpace:
    """Loads the study's space and builds recipes from its extremes and random draws.

    Every layer pair is looked up in the models it names, so a misspelt module fails here,
    naming the file and key, rather than in every trial.

    Raises:
        ConfigError: For the first problem found, naming the search-space file.
        MissingFileError: If a dataset file is missing.
    """
    space = SearchSpace.from_yaml(config.space_path)
    image_shape, num_classes = dataset_shape(config.data)  # reads no image file
    dims = {"in_channels": image_shape[0], "num_classes": num_classes}
    if space.auto_pairs:
        _resolve_auto_pairs(space, config, image_shape, dims)
    teacher = TeacherSpec(
        model=config.teacher.model, checkpoint="<not trained yet>", sha256=PLACEHOLDER_SHA
    )
    teacher_modules = set(dict(build_model(config.teacher.model, **dims).named_modules()))
    student_modules: dict[str, set[str]] = {}
    for params in space.probe_params():
        trial = optuna.trial.FixedTrial(params)
        recipe = recipe_from_trial(space, trial, data=config.data, teacher=teacher)
        key = recipe.student.model_dump_json()
        if key not in student_modules:
            student_modules[key] = set(dict(build_model(recipe.student, **dims).named_modules()))
        for name, term in recipe.distill.active_terms().items():
            layers = [("teacher", t, teacher_modules) for t, _ in term.pairs]
            layers += [("student", s, student_modules[key]) for _, s in term.pairs]
            for role, layer, modules in layers:
                if layer not in modules:
                    known = ", ".join(sorted(m for m in modules if m and m.count(".") <= 1))
                    raise ConfigError(
                        f"distill.terms.{name}.pair",
                        f"a {role} module name ({known}, ...)",
                        repr(layer),
                        file=space.file,
                    )
    if config.study.sampler.name == "grid":
        space.grid_values()  # the grid must be finite: every float range needs a step
    from autokd.study._warm import warm_start_params

    warm_start_params(config, space)  # a warm start the space cannot express is bad input
    return space


def _resolve_auto_pairs(
    space: SearchSpace, config: StudyConfig, image_shape: tuple[int, ...], dims: dict
) -> None:
    """Proposes, for each ``pair: auto``, the pairs that fit every student the space can build.

    Shapes are probed once per distinct student architecture among the space's extremes and
    random draws; a pair is kept only if the loss accepts it for all of them.
    """
    with torch.random.fork_rng(devices=[]):
        t_shapes = probe_shapes(build_model(config.teacher.model, **dims), image_shape)
        students: dict[str, dict[str, tuple[int, ...]]] = {}
        for params in space.probe_params():
            spec = ModelSpec(**space.sample(optuna.trial.FixedTrial(params)).get("student", {}))
            key = spec.model_dump_json()
            if key not in students:
                students[key] = probe_shapes(build_model(spec, **dims), image_shape)
    choices = {}
    for _, path, loss in space.auto_pairs:
        per_student = [
            propose_pairs(LOSSES.get(loss), t_shapes, s_shapes) for s_shapes in students.values()
        ]
        choices[path] = [p for p in per_student[0] if all(p in other for other in per_student)]
    space.resolve_auto_pairs(choices)
