"""``extends:`` in search-space files: deep merge over bases, errors in the right file."""

from __future__ import annotations

from pathlib import Path
import textwrap

import optuna
import pytest

from autokd.exceptions import ConfigError
from autokd.space import SearchSpace

REPO = Path(__file__).resolve().parents[2]

BASE = """\
seed: 0
student:
  family: cnn
  width: {type: float, low: 0.25, high: 0.5}
  depth: 1
optim:
  lr: {type: float, low: 0.01, high: 0.3, log: true}
  epochs: 3
  lr_milestones: [1, 2]
distill:
  temperature: {schedule: constant, value: {type: float, low: 1.0, high: 8.0}}
  alpha: 0.5
  terms:
    kd: {weight: 1.0}
    at: {weight: 100.0, pair: "stages.1 -> stages.1"}
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _space(tmp_path: Path, child: str, base: str = BASE) -> SearchSpace:
    _write(tmp_path, "base.yaml", base)
    return SearchSpace.from_yaml(_write(tmp_path, "child.yaml", child))


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        SearchSpace.from_yaml(path)
    return info.value


def test_mappings_merge_key_by_key(tmp_path: Path) -> None:
    # Rule: a mapping in the extending file merges into the base's mapping.
    space = _space(tmp_path, "extends: base.yaml\noptim: {epochs: 5}\n")
    nested = space.sample(optuna.trial.FixedTrial(_lows(space)))
    assert nested["optim"]["epochs"] == 5
    assert "optim.lr" in space.distributions  # the base's sibling is kept


def test_a_distribution_replaces_whole(tmp_path: Path) -> None:
    # Rule: a mapping with `type` is replaced, not merged (no `log` left from the base).
    space = _space(tmp_path, "extends: base.yaml\noptim: {lr: {type: float, low: 0.5, high: 1}}")
    lr = space.distributions["optim.lr"]
    assert (lr.low, lr.high, lr.log) == (0.5, 1, False)


def test_a_fixed_value_or_list_replaces(tmp_path: Path) -> None:
    # Rule: a fixed value replaces a distribution, and a list replaces a list.
    child = "extends: base.yaml\nstudent: {width: 0.75}\noptim: {lr_milestones: [2]}\n"
    space = _space(tmp_path, child)
    assert "student.width" not in space.distributions
    nested = space.sample(optuna.trial.FixedTrial(_lows(space)))
    assert nested["student"]["width"] == 0.75
    assert nested["optim"]["lr_milestones"] == [2]


def test_null_removes_a_key(tmp_path: Path) -> None:
    # Rule: `null` under a term name removes that term.
    space = _space(tmp_path, "extends: base.yaml\ndistill: {terms: {at: null}}\n")
    nested = space.sample(optuna.trial.FixedTrial(_lows(space)))
    assert set(nested["distill"]["terms"]) == {"kd"}


def test_a_list_of_bases_applies_in_order(tmp_path: Path) -> None:
    # Rule: with `extends: [a, b]`, b wins over a and the file itself wins over both.
    _write(tmp_path, "a.yaml", "extends: base.yaml\noptim: {epochs: 7, batch_size: 32}\n")
    _write(tmp_path, "b.yaml", "optim: {epochs: 9}\n")
    _write(tmp_path, "base.yaml", BASE)
    child = _write(tmp_path, "child.yaml", "extends: [a.yaml, b.yaml]\nseed: 4\n")
    space = SearchSpace.from_yaml(child)
    nested = space.sample(optuna.trial.FixedTrial(_lows(space)))
    assert (nested["optim"]["epochs"], nested["optim"]["batch_size"]) == (9, 32)
    assert nested["seed"] == 4


def test_a_cycle_is_an_error_naming_its_files(tmp_path: Path) -> None:
    # Rule: a -> b -> a is a ConfigError keyed `extends` that names both files.
    _write(tmp_path, "a.yaml", "extends: b.yaml\n")
    _write(tmp_path, "b.yaml", "extends: a.yaml\n")
    err = _error(tmp_path / "a.yaml")
    assert err.key == "extends"
    assert "cycle" in err.got and "a.yaml" in err.got and "b.yaml" in err.got


def test_a_missing_base_is_an_error_naming_it(tmp_path: Path) -> None:
    # Rule: a base that does not exist is a ConfigError keyed `extends` naming the path.
    err = _error(_write(tmp_path, "child.yaml", "extends: nowhere.yaml\n"))
    assert err.key == "extends"
    assert err.file == str(tmp_path / "child.yaml")
    assert "nowhere.yaml" in err.got


def test_errors_name_the_file_that_holds_the_bad_key(tmp_path: Path) -> None:
    # Rule: a bad field set in the base is reported in the base, one set in the child in it.
    bad_base = BASE.replace("depth: 1", "depth: {type: int, low: 3, high: 1}")
    _write(tmp_path, "base.yaml", bad_base)
    child = _write(tmp_path, "child.yaml", "extends: base.yaml\nseed: 1\n")
    err = _error(child)
    assert (err.file, err.key) == (str(tmp_path / "base.yaml"), "student.depth")
    _write(tmp_path, "base.yaml", BASE)
    _write(tmp_path, "child.yaml", "extends: base.yaml\noptim: {lr: {type: float, low: 1}}\n")
    err = _error(child)
    assert (err.file, err.key) == (str(tmp_path / "child.yaml"), "optim.lr.high")


def test_extended_space_differs_from_base_exactly_where_overridden(tmp_path: Path) -> None:
    # Rule: sampling both spaces with the same params gives recipes equal except the overrides.
    base_path = _write(tmp_path, "base.yaml", BASE)
    child = _write(
        tmp_path, "child.yaml", "extends: base.yaml\noptim: {epochs: 6}\ndistill: {alpha: 0.7}\n"
    )
    base, extended = SearchSpace.from_yaml(base_path), SearchSpace.from_yaml(child)
    assert extended.distributions.keys() == base.distributions.keys()
    params = _lows(base)
    got = extended.sample(optuna.trial.FixedTrial(params))
    want = base.sample(optuna.trial.FixedTrial(params))
    want["optim"]["epochs"], want["distill"]["alpha"] = 6, 0.7
    assert got == want


def test_the_digits_wide_example_extends_digits() -> None:
    # Rule: the shipped example keeps digits.yaml's parameters and widens the student width.
    base = SearchSpace.from_yaml(REPO / "search_spaces" / "digits.yaml")
    wide = SearchSpace.from_yaml(REPO / "search_spaces" / "digits_wide.yaml")
    assert set(base.distributions) - {"distill.terms.kd.weight"} <= set(wide.distributions)
    assert wide.distributions["student.width"].high == 1.0
    assert "distill.terms.dkd.enabled" in wide.distributions


def _lows(space: SearchSpace) -> dict:
    """Every param at its low end (the first choice of a categorical)."""
    return {name: dist.extremes()[0] for name, dist in space.distributions.items()}
