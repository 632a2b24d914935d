"""Every kind of impossible search space is bad input for ``autokd validate``.

Each case edits the tiny study's space (tests/conftest.py) in one place; validation must exit
2 with one stderr line that names the search-space file and the key. Validation trains
nothing, so these are quick.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from autokd.cli import main
from tests.conftest import TINY_SPACE
from tests.conftest import write_study

BASE = yaml.safe_load(TINY_SPACE)
CNN_PAIR = "stages.1 -> stages.1"


def _edit(path: str, value: Any) -> dict[str, Any]:
    """The tiny space with ``path`` (dotted) set to ``value`` (``None`` removes it)."""
    tree = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return tree


def _terms(**terms: Any) -> dict[str, Any]:
    return _edit("distill.terms", terms)


def _choose(choose: Any) -> dict[str, Any]:
    tree = _terms(kd={"search": "optional"}, dkd={"search": "optional"})
    tree["distill"]["choose"] = choose
    return tree


CASES: dict[str, tuple[dict[str, Any], str]] = {
    # --- sections and keys
    "unknown section": ({**BASE, "distil": {}}, "distil"),
    "unknown recipe key": (_edit("optim.lrr", 0.1), "optim.lrr"),
    "unknown key in a distribution": (
        _edit("optim.lr", {"type": "float", "low": 0.01, "high": 0.1, "lgo": True}),
        "optim.lr.lgo",
    ),
    # --- malformed distributions
    "unknown distribution type": (
        _edit("optim.lr", {"type": "floaty", "low": 0.01, "high": 0.1}),
        "optim.lr.type",
    ),
    "missing low": (_edit("optim.lr", {"type": "float", "high": 0.1}), "optim.lr.low"),
    "int range with a float bound": (
        _edit("student.depth", {"type": "int", "low": 1.5, "high": 2}),
        "student.depth.low",
    ),
    "low == high": (_edit("optim.lr", {"type": "float", "low": 0.1, "high": 0.1}), "optim.lr"),
    "low > high": (_edit("optim.lr", {"type": "float", "low": 0.2, "high": 0.1}), "optim.lr"),
    "log with low <= 0": (
        _edit("optim.lr", {"type": "float", "low": 0.0, "high": 0.1, "log": True}),
        "optim.lr.low",
    ),
    "log not a bool": (
        _edit("optim.lr", {"type": "float", "low": 0.01, "high": 0.1, "log": "yes"}),
        "optim.lr.log",
    ),
    "log and step together": (
        _edit("optim.lr", {"type": "float", "low": 0.01, "high": 0.1, "log": True, "step": 0.01}),
        "optim.lr",
    ),
    "negative step": (
        _edit("student.width", {"type": "float", "low": 0.25, "high": 0.5, "step": -0.25}),
        "student.width.step",
    ),
    "step not dividing the range": (
        _edit("student.width", {"type": "float", "low": 0.25, "high": 0.5, "step": 0.1}),
        "student.width.step",
    ),
    "categorical without choices": (
        _edit("optim.batch_size", {"type": "categorical"}),
        "optim.batch_size.choices",
    ),
    "categorical with empty choices": (
        _edit("optim.batch_size", {"type": "categorical", "choices": []}),
        "optim.batch_size.choices",
    ),
    "categorical with duplicate choices": (
        _edit("optim.batch_size", {"type": "categorical", "choices": [64, 128, 64]}),
        "optim.batch_size.choices",
    ),
    "categorical with a list choice": (
        _edit("optim.batch_size", {"type": "categorical", "choices": [[64], 128]}),
        "optim.batch_size.choices",
    ),
    "choice branch not a mapping": (
        _edit("distill.alpha.schedule", {"type": "categorical", "choices": {"constant": [0.5]}}),
        "distill.alpha.schedule.choices.constant",
    ),
    # --- student
    "unknown family": (_edit("student.family", "cnnn"), "student.family"),
    "illegal depth for the family": (
        {**_edit("student.family", "resnet"), "student": {"family": "resnet", "depth": 15}},
        "student.depth",
    ),
    "illegal depth among the choices": (
        {
            **BASE,
            "student": {
                "family": "resnet",
                "depth": {"type": "categorical", "choices": [8, 15]},
            },
        },
        "student.depth",
    ),
    "width outside the family's range": (
        _edit("student.width", {"type": "float", "low": 0.1, "high": 0.5}),
        "student.width",
    ),
    # --- optimisation and augmentation
    "lr_milestones without the step schedule": (
        _edit("optim.lr_milestones", [1]),
        "optim.lr_milestones",
    ),
    "lr above its legal range": (
        _edit("optim.lr", {"type": "float", "low": 0.1, "high": 20.0, "log": True}),
        "optim.lr",
    ),
    "unknown optimizer": (_edit("optim.optimizer", "adamm"), "optim.optimizer"),
    "crop out of range": (
        _edit("augment", {"crop": {"type": "int", "low": 0, "high": 20}}),
        "augment.crop",
    ),
    # --- temperature and alpha
    "temperature <= 0": (
        _edit("distill.temperature.value", {"type": "float", "low": 0.0, "high": 2.0}),
        "distill.temperature",
    ),
    "alpha above 1": (_edit("distill.alpha", 1.5), "distill.alpha"),
    "alpha below 0 in a branch": (
        _edit(
            "distill.alpha.schedule.choices.linear.start",
            {"type": "float", "low": -0.5, "high": 0.3},
        ),
        "distill.alpha",
    ),
    "unknown schedule": (
        _edit("distill.alpha", {"schedule": "cosinus", "value": 0.5}),
        "distill.alpha.schedule",
    ),
    # --- terms
    "unknown loss": (_terms(kdd={"weight": 1.0}), "distill.terms.kdd"),
    "unknown loss in loss:": (_terms(x={"loss": "kdd"}), "distill.terms.x.loss"),
    "unknown search mode": (_terms(kd={"search": "sometimes"}), "distill.terms.kd.search"),
    "search and enabled together": (
        _terms(kd={"search": "optional", "enabled": True}),
        "distill.terms.kd.enabled",
    ),
    "negative weight": (_terms(kd={"weight": -1.0}), "distill.terms.kd.weight"),
    "negative weight in a range": (
        _terms(kd={"weight": {"type": "float", "low": -1.0, "high": 1.0}}),
        "distill.terms.kd.weight",
    ),
    "unknown loss param": (_terms(kd={"params": {"tau": 2.0}}), "distill.terms.kd.params.tau"),
    "loss param outside its legal range": (
        _terms(
            at={"pair": CNN_PAIR, "params": {"p": {"type": "float", "low": -2.0, "high": 2.0}}}
        ),
        "distill.terms.at.params.p",
    ),
    "pair on a logit loss": (_terms(kd={"pair": CNN_PAIR}), "distill.terms.kd.pair"),
    "feature loss without a pair": (_terms(at={"weight": 1.0}), "distill.terms.at.pair"),
    "malformed pair": (_terms(at={"pair": "stages.1"}), "distill.terms.at.pair"),
    "pair naming a missing module": (
        _terms(at={"pair": "stages.1 -> stages.9"}),
        "distill.terms.at.pair",
    ),
    "projector that cannot bridge the pair's shapes": (
        _terms(fitnets={"pair": "stages.1 -> stages.1", "projector": "linear"}),
        "distill.terms.fitnets.pair",
    ),
    "pair whose shapes no projector bridges": (
        _terms(at={"pair": "stages.0 -> pool"}),
        "distill.terms.at.pair",
    ),
    "auto pair with no candidate": (
        _terms(
            fitnets={
                "pair": "auto",
                "projector": {"type": "categorical", "choices": ["conv1x1", "linear"]},
            }
        ),
        "distill.terms.fitnets.pair",
    ),
    "unknown projector": (
        _terms(fitnets={"pair": CNN_PAIR, "projector": "conv9"}),
        "distill.terms.fitnets.projector",
    ),
    "unknown projector among the choices": (
        _terms(
            fitnets={
                "pair": CNN_PAIR,
                "projector": {"type": "categorical", "choices": ["conv1x1", "conv9"]},
            }
        ),
        "distill.terms.fitnets.projector.choices",
    ),
    "projector auto with a fixed pair": (
        _terms(fitnets={"pair": CNN_PAIR, "projector": "auto", "search": "optional"}),
        "distill.terms.fitnets.projector",
    ),
    "projector on a loss without projectors": (
        _terms(at={"pair": CNN_PAIR, "projector": "conv1x1"}),
        "distill.terms.at.projector",
    ),
    # --- choose-k
    "choose from a term not declared": (
        _choose({"k": 1, "from": ["kd", "js"]}),
        "distill.choose.from",
    ),
    "choose k larger than the list": (_choose({"k": 3, "from": ["kd", "dkd"]}), "distill.choose"),
    "choose k < 1": (_choose({"k": 0, "from": ["kd", "dkd"]}), "distill.choose"),
    "choose min > max": (
        _choose({"min": 2, "max": 1, "from": ["kd", "dkd"]}),
        "distill.choose",
    ),
    "choose too many combinations": (  # 20 + 190 combinations of 20 terms
        _choose({"min": 1, "max": 2, "from": [f"kd{i}" for i in range(20)]}),
        "distill.choose: expected at most 200",
    ),
}
for _i in range(20):
    CASES["choose too many combinations"][0]["distill"]["terms"][f"kd{_i}"] = {
        "loss": "kd",
        "search": "optional",
    }


#: Not caught yet: check_study looks a fixed pair's modules up but builds no loss from their
#: shapes, and only ``_resolve_auto_pairs`` (auto pairs) may be changed here. The trial fails
#: with the reason instead. Strict, so the day it is caught this shows.
#: Cases validation does not catch yet: AT builds from these shapes and fails only in its
#: forward pass; validate builds every probed term's loss but does not run it.
NOT_CAUGHT = {"pair whose shapes no projector bridges"}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.xfail(strict=True, reason="fails only in forward"))
        if case in NOT_CAUGHT
        else case
        for case in CASES
    ],
)
def test_validate_rejects_with_one_line_naming_file_and_key(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space, key = CASES[case]
    study = write_study(tmp_path, space=yaml.safe_dump(space, sort_keys=False))
    capsys.readouterr()
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert str(tmp_path / "space.yaml") in err[0], err[0]
    assert f"{key}" in err[0], err[0]
