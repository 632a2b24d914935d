"""The baselines a found recipe is measured against: no distillation and the literature.

Each baseline is the winner's recipe with only its ``distill`` section replaced, so data,
split, augmentation, student, optimiser, epochs and seed stay identical. A literature recipe's
``pair: auto`` is resolved for the actual teacher and student by the paper's rule (see
:data:`PAPER_PAIRS`) among the pairs autokd proposes for their probed shapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autokd._config import load_yaml
from autokd._registry import closest
from autokd._rng import isolated_rng
from autokd.data import dataset_shape
from autokd.engine._pairs import probe_shapes
from autokd.engine._pairs import propose_pairs
from autokd.exceptions import ConfigError
from autokd.losses import LOSSES
from autokd.models import build_model
from autokd.recipe import Recipe
from autokd.recipe import split_pairs

__all__ = ["LITERATURE", "NO_KD", "PAPER_PAIRS", "baseline_names", "baseline_recipe", "title"]

#: The shipped literature recipes (one YAML file each, the paper's settings in its comments).
LITERATURE = Path(__file__).resolve().parents[2] / "search_spaces" / "literature"
#: The baseline without distillation: same student and training, cross-entropy only.
NO_KD = "no_kd"

#: How ``pair: auto`` of a literature recipe becomes the paper's layers. Among the
#: teacher/student pairs autokd proposes with the same module name on both sides:
#: ``middle`` the middle stage (FitNets hints a middle layer; the CRD benchmark the 2nd of 3
#: stages), ``stages`` every stage, summed (AT sums over the stage outputs), ``pool`` the
#: pooled penultimate features (CRD), ``chain`` the longest shallow-to-deep chain of stages
#: (ReviewKD). Other losses take the first name-matched proposal.
PAPER_PAIRS = {"fitnets": "middle", "at": "stages", "crd": "pool", "reviewkd": "chain"}

_TITLES = {
    NO_KD: "no distillation",
    "kd": "KD (Hinton 2015), T=4, alpha 0.9",
    "kd_ls": "KD + logit standardisation (Sun 2024)",
    "dkd": "DKD (Zhao 2022), warm-up",
    "dkd_ls": "DKD + logit standardisation (Sun 2024)",
    "dist": "DIST (Huang 2022)",
    "fitnets": "FitNets (Romero 2015)",
    "at": "AT (Zagoruyko 2017)",
    "crd": "CRD (Tian 2020)",
    "reviewkd": "ReviewKD (Chen 2021)",
}


def baseline_names() -> list[str]:
    """``no_kd`` and the stems of the literature files, in a stable order."""
    return [NO_KD, *sorted(p.stem for p in LITERATURE.glob("*.yaml"))]


def title(name: str) -> str:
    """A short human name of a baseline (the name itself for a user's own)."""
    return _TITLES.get(name, name)


def check_baselines(names: list[str]) -> list[str]:
    """``names`` without repeats, each a known baseline.

    Raises:
        ConfigError: Keyed ``--baselines``, naming the unknown one and the closest name.
    """
    known = baseline_names()
    for name in names:
        if name not in known:
            raise ConfigError(
                "--baselines",
                f"names from: {', '.join(known)}",
                repr(name),
                hint=closest(name, known).strip(),
            )
    return list(dict.fromkeys(names))


def baseline_recipe(name: str, winner: Recipe) -> Recipe:
    """The winner's recipe with the baseline's distillation (or none, for ``no_kd``).

    Raises:
        ConfigError: If a ``pair: auto`` finds no pair its loss accepts for these models.
    """
    data = winner.to_dict()
    if name == NO_KD:
        data["distill"] = {"alpha": 0.0, "terms": {}}
    else:
        path = LITERATURE / f"{name}.yaml"
        distill = dict(load_yaml(path)["distill"])
        terms = {}
        for key, term in (distill.get("terms") or {}).items():
            term = dict(term)
            if term.get("pair") == "auto":
                term["pair"] = _paper_pair(term.get("loss") or key, winner, file=str(path))
            terms[key] = term
        distill["terms"] = terms
        data["distill"] = distill
    data["provenance"] = {**winner.provenance, "baseline": name}
    return Recipe.from_dict(data, file=f"baseline {name}")


def _paper_pair(loss: str, recipe: Recipe, *, file: str) -> str:
    cls = LOSSES.get(loss)
    image_shape, num_classes = dataset_shape(recipe.data)
    dims = {"in_channels": image_shape[0], "num_classes": num_classes}
    assert recipe.teacher is not None  # a literature recipe is built on a distilled winner
    with isolated_rng():
        t_shapes = probe_shapes(build_model(recipe.teacher.model, **dims), image_shape)
        s_shapes = probe_shapes(build_model(recipe.student, **dims), image_shape)
    proposals = propose_pairs(cls, t_shapes, s_shapes)
    chosen = choose_pair(PAPER_PAIRS.get(loss, "first"), proposals)
    if chosen is None:
        raise ConfigError(
            "distill.terms.pair",
            f"a layer pair '{loss}' accepts between the teacher and the student",
            "none proposed for their shapes",
            file=file,
        )
    return chosen


def choose_pair(rule: str, proposals: list[str]) -> str | None:
    """The proposal ``rule`` picks (see :data:`PAPER_PAIRS`); None when nothing fits."""
    same = [p for p in proposals if all(t == s for t, s in split_pairs(p))]
    stages = [p for p in same if all(t.startswith("stages.") for t, _ in split_pairs(p))]
    if rule == "middle" and stages:
        singles = [p for p in stages if ";" not in p]
        return singles[len(singles) // 2] if singles else stages[0]
    if rule == "stages" and stages:
        return "; ".join(p for p in stages if ";" not in p)
    if rule == "pool":
        pooled = [p for p in same if split_pairs(p)[0][0] == "pool"]
        if pooled:
            return pooled[0]
    if rule == "chain" and stages:
        longest = max(len(split_pairs(p)) for p in stages)
        chains = [p for p in stages if len(split_pairs(p)) == longest]
        return chains[-1]  # proposals run shallow to deep: the deepest chain is last
    candidates: list[Any] = same or proposals
    return candidates[0] if candidates else None
