"""Validation of a whole study before anything is written: space, recipes, layer names."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import torch

from autokd._rng import isolated_rng
from autokd.config import StudyConfig
from autokd.data import dataset_shape
from autokd.engine._pairs import build_pair_losses
from autokd.engine._pairs import probe_shapes
from autokd.engine._pairs import propose_pairs
from autokd.exceptions import AutokdError
from autokd.exceptions import ConfigError
from autokd.losses import LOSSES
from autokd.models import build_model
from autokd.models import load_checkpoint
from autokd.recipe import ModelSpec
from autokd.recipe import TeacherSpec
from autokd.recipe import split_pairs
from autokd.space import SearchSpace
from autokd.study._recipes import PLACEHOLDER_SHA
from autokd.study._recipes import recipe_from_trial

__all__ = ["check_output_dir", "check_study"]


def check_study(config: StudyConfig, *, outputs: bool = True) -> SearchSpace:
    """Loads the study's space and builds recipes from its extremes and random draws.

    Every layer pair is looked up in the models it names, so a misspelt module fails here,
    naming the file and key, rather than in every trial. The teacher checkpoint, when the
    study names one, is loaded into the teacher model, and the study folder must be one
    that can be written: both fail here, before anything is written.

    Args:
        config: The parsed study file.
        outputs: Check that the study folder can be created (off for a bare search space,
            which has no study folder of its own).

    Raises:
        ConfigError: For the first problem found, naming the search-space file.
        MissingFileError: If a dataset file is missing.
    """
    if outputs:
        check_output_dir(config.output_dir, file=config.file)
    space = SearchSpace.from_yaml(config.space_path)
    image_shape, num_classes = dataset_shape(config.data)  # reads no image file
    dims = {"in_channels": image_shape[0], "num_classes": num_classes}
    if config.checkpoint_path is not None:
        try:
            load_checkpoint(config.teacher.model, config.checkpoint_path, **dims)
        except ConfigError as exc:
            raise exc.in_file(config.file) from None
    if space.auto_pairs:
        _resolve_auto_pairs(space, config, image_shape, dims)
    teacher = TeacherSpec(
        model=config.teacher.model, checkpoint="<not trained yet>", sha256=PLACEHOLDER_SHA
    )
    with isolated_rng():
        teacher_model = build_model(config.teacher.model, **dims)
    teacher_modules = set(dict(teacher_model.named_modules()))
    t_shapes = _LayerShapes(teacher_model, image_shape)
    student_modules: dict[str, set[str]] = {}
    student_shapes: dict[str, _LayerShapes] = {}
    for params in space.probe_params():
        trial = optuna.trial.FixedTrial(params)
        recipe = recipe_from_trial(space, trial, data=config.data, teacher=teacher)
        key = recipe.student.model_dump_json()
        if key not in student_modules:
            with isolated_rng():
                student = build_model(recipe.student, **dims)
            student_modules[key] = set(dict(student.named_modules()))
            student_shapes[key] = _LayerShapes(student, image_shape)
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
            if term.pairs:
                _check_buildable(name, term, t_shapes, student_shapes[key], space.file)
    if config.study.sampler.name == "grid":
        space.grid_values()  # the grid must be finite: every float range needs a step
    from autokd.study._warm import warm_start_params

    warm_start_params(config, space)  # a warm start the space cannot express is bad input
    return space


def check_output_dir(path: Path, *, file: str, key: str = "study.output_dir") -> None:
    """Fails unless ``path`` is a folder, or a folder that can be created, and is writable.

    Nothing is created: the nearest existing ancestor must be a writable folder.

    Raises:
        ConfigError: Naming ``file``, ``key`` and the path in the way.
    """
    expected = "a folder that exists or can be created, and is writable"
    hint = "Choose another output_dir."
    try:
        if "\x00" in str(path):
            raise ValueError("a NUL character")
        # As StudyConfig.output_dir uses it: a leading ~ is the home folder.
        target = Path(os.path.abspath(Path(path).expanduser()))
    except ValueError:
        raise ConfigError(key, expected, repr(str(path)), file=file, hint=hint) from None
    existing = target
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing.is_file() else "is neither a file nor a folder"
        got = f"'{path}', but {existing} {what}"
        raise ConfigError(key, expected, got, file=file, hint=hint)
    if not os.access(existing, os.W_OK | os.X_OK):
        got = f"'{path}', but {existing} is not writable"
        raise ConfigError(key, expected, got, file=file, hint=hint)


class _LayerShapes:
    """Output shapes (without the batch dim) of any named modules of one model, probed once."""

    def __init__(self, model: torch.nn.Module, image_shape: tuple[int, ...]) -> None:
        self.model = model
        self.image_shape = image_shape
        self.shapes: dict[str, tuple[int, ...]] = {}

    def __call__(self, names: list[str]) -> dict[str, tuple[int, ...]]:
        missing = [n for n in names if n not in self.shapes]
        if missing:
            modules = dict(self.model.named_modules())
            seen: dict[str, tuple[int, ...]] = {}

            def record(name: str):
                def hook(module, args, out) -> None:  # returns None: the output is unchanged
                    if isinstance(out, torch.Tensor):
                        seen.setdefault(name, tuple(out.shape[1:]))

                return hook

            hooks = [modules[n].register_forward_hook(record(n)) for n in missing]
            try:
                self.model.eval()
                with torch.no_grad(), isolated_rng():
                    self.model(torch.zeros(2, *self.image_shape))
            finally:
                for h in hooks:
                    h.remove()
            self.shapes.update(seen)
        return {n: self.shapes[n] for n in names if n in self.shapes}


def _check_buildable(name, term, t_shapes: _LayerShapes, s_shapes: _LayerShapes, file) -> None:
    """Builds the term's loss from probed shapes as the engine will; failing is bad input."""
    cls = LOSSES.get(term.loss or name)
    t_layers, s_layers = [t for t, _ in term.pairs], [s for _, s in term.pairs]
    ts, ss = t_shapes(t_layers), s_shapes(s_layers)
    if any(n not in ts for n in t_layers) or any(n not in ss for n in s_layers):
        return  # a module that returns no tensor: the engine reports it in the trial
    try:
        with isolated_rng():
            build_pair_losses(
                cls, term.pairs, ts, ss, projector=term.projector, params=term.params
            )
    except (AutokdError, RuntimeError, ValueError) as exc:
        pairs = "; ".join(f"{t} {ts[t]} -> {s} {ss[s]}" for t, s in term.pairs)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"distill.terms.{name}.pair",
            f"layers whose shapes {cls.__name__} can bridge",
            pairs,
            file=file,
            hint=f"({first})",
        ) from None


def _resolve_auto_pairs(
    space: SearchSpace, config: StudyConfig, image_shape: tuple[int, ...], dims: dict
) -> None:
    """Proposes, for each ``pair: auto``, the pairs that fit every student the space can build.

    Shapes are probed once per distinct student architecture among the space's extremes and
    random draws; a pair is kept only if the loss accepts it for all of them.
    """
    with isolated_rng():
        t_shapes = probe_shapes(build_model(config.teacher.model, **dims), image_shape)
        students: dict[str, dict[str, tuple[int, ...]]] = {}
        for params in space.probe_params():
            spec = ModelSpec(**space.sample(optuna.trial.FixedTrial(params)).get("student", {}))
            key = spec.model_dump_json()
            if key not in students:
                students[key] = probe_shapes(build_model(spec, **dims), image_shape)

    def builds(cls: type, pair: str, projector: str, s_shapes: dict) -> bool:
        try:
            with isolated_rng():
                build_pair_losses(cls, split_pairs(pair), t_shapes, s_shapes, projector=projector)
        except (AutokdError, RuntimeError, ValueError):
            return False
        return True

    auto_projectors = {path for _, path, _ in space.auto_projectors}
    choices, projectors = {}, {}
    for holder, path, loss in space.auto_pairs:
        cls = LOSSES.get(loss)
        per_student = [propose_pairs(cls, t_shapes, s_shapes) for s_shapes in students.values()]
        pairs = [p for p in per_student[0] if all(p in other for other in per_student)]
        # A searched projector: keep the pairs that every projector choice can bridge. For
        # ``projector: auto``, the projectors are taken greedily (those that bridge the most
        # pairs first) while at least one pair fits them all, e.g. the conv projectors for
        # (C, H, W) pairs without the linear one that only takes vectors.
        proj_path = f"{path.rsplit('.', 1)[0]}.projector"
        named = holder.get("projector")
        options = list(getattr(named, "choices", [named]))
        fits = {
            proj: [
                p
                for p in pairs
                if proj is None or all(builds(cls, p, proj, s) for s in students.values())
            ]
            for proj in options
        }
        if proj_path in auto_projectors:
            ranked = sorted(options, key=lambda proj: -len(fits[proj]))
            kept: list = []
            for proj in ranked:
                both = [p for p in pairs if all(p in fits[k] for k in (*kept, proj))]
                if both:
                    kept.append(proj)
            projectors[proj_path] = [proj for proj in options if proj in kept]
            options = projectors[proj_path]
        choices[path] = [p for p in pairs if all(p in fits[proj] for proj in options)]
    space.resolve_auto_pairs(choices, projectors)
