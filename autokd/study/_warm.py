"""Warm starts: literature recipes, recipe files and finished studies as the first trials.

Each ``warm_start`` entry of a study file becomes a dict of this study's Optuna params (dotted
recipe paths). Fields the entry does not mention are left to the sampler; terms it does not
enable are switched off where the space can switch them off. An entry the space cannot express
(a loss it lacks, a value outside a range, a fixed field with another value) is a ConfigError.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import optuna

from autokd._config import load_yaml
from autokd.config import StudyConfig
from autokd.exceptions import ConfigError
from autokd.recipe import Recipe
from autokd.recipe import TeacherSpec
from autokd.recipe import split_pairs
from autokd.space import SearchSpace
from autokd.study._recipes import PLACEHOLDER_SHA
from autokd.study._recipes import recipe_from_trial
from autokd.study._storage import open_storage

__all__ = ["LITERATURE", "warm_start_params"]

#: The literature recipes a study names by file stem (``warm_start: [kd, dkd]``).
LITERATURE = Path(__file__).resolve().parents[2] / "search_spaces" / "literature"

_SECTIONS = ("student", "optim", "augment", "distill", "seed")
_SCHEDULED = ("temperature", "alpha", "weight")
_MISSING = object()


class _Unexpressible(Exception):
    """Why the space cannot express an entry (becomes the ConfigError's "got")."""


def warm_start_params(config: StudyConfig, space: SearchSpace) -> list[tuple[str, dict]]:
    """Converts each ``warm_start`` entry into params of ``space`` (auto pairs resolved).

    Args:
        config: The study; entries are literature names or paths relative to its file.
        space: The study's search space, as :func:`~autokd.study._check.check_study` returns it.

    Returns:
        ``[(entry, {param name: value}), ...]`` in the study file's order.

    Raises:
        ConfigError: Keyed ``warm_start.<i>``, for an entry that is missing or that the space
            cannot express.
    """
    out = []
    for i, entry in enumerate(config.warm_start):
        try:
            nested = _normalise(_load_entry(config, entry))
            params = _params_for(space, nested)
            _check_expressed(space, nested, params, config)
        except _Unexpressible as exc:
            raise ConfigError(
                f"warm_start.{i}",
                "a recipe this search space can express",
                f"{entry} ({exc})",
                file=config.file,
            ) from None
        except _NotFound as exc:
            raise ConfigError(
                f"warm_start.{i}",
                "a literature recipe name "
                f"({', '.join(sorted(p.stem for p in LITERATURE.glob('*.yaml')))}), "
                "or a recipe or study file (relative to the study file)",
                f"'{entry}' ({exc})",
                file=config.file,
            ) from None
        out.append((entry, params))
    return out


class _NotFound(Exception):
    pass


# --- loading ---------------------------------------------------------------------------------
def _load_entry(config: StudyConfig, entry: str) -> dict[str, Any]:
    """The entry as a (partial) nested recipe: sections student ... seed."""
    named = "/" not in entry and not entry.endswith((".yaml", ".yml"))
    path = LITERATURE / f"{entry}.yaml" if named else config.base_dir / entry
    if not path.is_file():
        raise _NotFound(f"{path} does not exist")
    data = load_yaml(path)
    if "study" in data:
        return _best_of_study(path)
    unknown = [k for k in data if k not in Recipe.model_fields]
    if unknown:
        raise _Unexpressible(f"{path} has the unknown key '{unknown[0]}'")
    return {k: data[k] for k in _SECTIONS if k in data}


def _best_of_study(path: Path) -> dict[str, Any]:
    """The best trial of another study, replayed through that study's space."""
    other = StudyConfig.from_yaml(path)
    url = other.storage_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise _Unexpressible(f"the study {path} has not run yet ({url} does not exist)")
    try:
        # The same opener as `autokd run`: postgresql:// gets its driver, passwords stay masked.
        study = optuna.load_study(study_name=other.study.name, storage=open_storage(url))
        best = study.best_trial
    except (KeyError, ValueError) as exc:
        raise _Unexpressible(f"the study {path} has no completed trial ({exc})") from None
    space = SearchSpace.from_yaml(other.space_path)
    unused = "unused -> unused"  # a pair of a term the best trial switched off
    space.resolve_auto_pairs({p: [best.params.get(p, unused)] for _, p, _ in space.auto_pairs})
    return space.sample(optuna.trial.FixedTrial(best.params))


def _normalise(nested: dict[str, Any]) -> dict[str, Any]:
    """Bare numbers of scheduled fields become constant schedules; switched-off terms go."""
    distill = dict(nested.get("distill") or {})
    for key in ("temperature", "alpha"):
        distill[key] = _schedule(distill[key]) if key in distill else _MISSING
    terms = {}
    for name, term in (distill.get("terms") or {}).items():
        if isinstance(term, dict) and term.get("enabled", True) is not False:
            terms[name] = {**term, "weight": _schedule(term.get("weight", 1.0))}
            if isinstance(term.get("pair"), str) and term["pair"] != "auto":
                terms[name]["pair"] = "; ".join(" -> ".join(p) for p in split_pairs(term["pair"]))
    distill["terms"] = terms
    distill = {k: v for k, v in distill.items() if v is not _MISSING}
    return {**nested, "distill": distill}


def _schedule(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"schedule": "constant", "value": float(value)}
    return value


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict) or not node:
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


# --- conversion ------------------------------------------------------------------------------
def _params_for(space: SearchSpace, nested: dict[str, Any]) -> dict[str, Any]:
    flat = _flatten(nested)
    terms = nested["distill"]["terms"]
    params: dict[str, Any] = {}
    for name, dist in space.distributions.items():
        parts = name.split(".")
        term = parts[2] if len(parts) > 3 and parts[:2] == ["distill", "terms"] else None
        if term is not None and parts[3:] == ["enabled"]:
            value: Any = term in terms
            if value not in dist.choices:
                continue  # an always-on or never-on term: checked on the built recipe
        elif term in terms and parts[3:] == ["pair"] and terms[term].get("pair", "auto") == "auto":
            value = dist.choices[0] if hasattr(dist, "choices") else _MISSING
        else:
            value = _lookup(flat, name)
            if value is _MISSING and term in terms and parts[3:4] == ["params"]:
                value = _loss_default(terms[term].get("loss", term), parts[-1])
        if value is _MISSING:
            continue
        params[name] = _fit(dist, name, value)
    return params


def _lookup(flat: dict[str, Any], name: str) -> Any:
    if name in flat:
        return flat[name]
    if flat.get(f"{name}.schedule") == "constant" and f"{name}.value" in flat:
        return flat[f"{name}.value"]  # the space samples a bare number for a constant
    return _MISSING


def _loss_default(loss: str, param: str) -> Any:
    from autokd.losses import LOSSES

    if loss not in LOSSES:
        return _MISSING
    found = inspect.signature(LOSSES.get(loss).__init__).parameters.get(param)
    if found is None or found.default is inspect.Parameter.empty:
        return _MISSING
    return found.default


def _fit(dist: Any, name: str, value: Any) -> Any:
    """``value`` as the distribution holds it, or _Unexpressible if it is not in it."""
    if hasattr(dist, "choices"):
        if value not in dist.choices:
            raise _Unexpressible(f"{name} is {value!r}, not one of {list(dist.choices)}")
        return value
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    tol = 1e-9 * max(1.0, abs(dist.high))
    inside = number and dist.low - tol <= value <= dist.high + tol
    if inside and dist.step:
        inside = abs((value - dist.low) / dist.step - round((value - dist.low) / dist.step)) < 1e-6
    if inside and dist.kind == "int":
        inside = float(value).is_integer()
    if not inside:
        step = f" in steps of {dist.step}" if dist.step else ""
        raise _Unexpressible(f"{name} is {value!r}, outside {dist.low}..{dist.high}{step}")
    return int(value) if dist.kind == "int" else float(value)


# --- checking the built recipe ---------------------------------------------------------------
def _check_expressed(
    space: SearchSpace, nested: dict[str, Any], params: dict[str, Any], config: StudyConfig
) -> None:
    """Builds the recipe these params give and compares it with every field of the entry."""
    lows = {n: d.extremes()[0] for n, d in space.distributions.items()}
    teacher = TeacherSpec(model=config.teacher.model, checkpoint="<warm>", sha256=PLACEHOLDER_SHA)
    trial = optuna.trial.FixedTrial({**lows, **params})
    try:
        recipe = recipe_from_trial(space, trial, data=config.data, teacher=teacher)
    except ConfigError as exc:
        raise _Unexpressible(f"the recipe it gives is invalid: {exc}") from None
    active = recipe.distill.active_terms()
    entry_terms = nested["distill"]["terms"]
    for term in entry_terms:
        if term not in active:
            raise _Unexpressible(f"distill.terms.{term} is not in {space.file}")
    for term in active:
        if term not in entry_terms:
            raise _Unexpressible(f"distill.terms.{term} is always on in {space.file}")
    got = _flatten(recipe.to_dict())
    for path, want in _flatten(nested).items():
        parts = path.split(".")
        if parts[-1] == "pair" and want == "auto":
            continue
        have = got.get(path, _MISSING)
        if have is _MISSING and parts[:2] == ["distill", "terms"] and parts[3:4] == ["params"]:
            loss = active[parts[2]].loss or parts[2]
            have = _loss_default(loss, parts[-1])
        if have is _MISSING:
            raise _Unexpressible(f"{path} is not a recipe field")
        if not _same(have, want):
            raise _Unexpressible(f"{path} is {have!r} in {space.file}, not {want!r}")


def _same(a: Any, b: Any) -> bool:
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    if numbers:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)
