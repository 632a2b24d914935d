"""Knobs, resolve_knobs, get_family and ModelSpec validation."""

from __future__ import annotations

from typing import Any

import pytest

from autokd._config import parse_model
from autokd._registry import Registry
from autokd.exceptions import ConfigError
from autokd.models import MODELS
from autokd.models import Knob
from autokd.models import get_family
from autokd.models import resolve_knobs
from autokd.recipe import ModelSpec


def _error(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_model(ModelSpec, data, file="r.yaml", prefix="student")
    return info.value


def test_knob_check_accepts_legal_and_describes_illegal_values() -> None:
    ranged = Knob(1.0, low=0.25, high=4.0)
    assert ranged.check(0.25) is None and ranged.check(4) is None
    assert ranged.check(4.01) == "a number in [0.25, 4]"
    assert ranged.check(float("nan")) is not None
    assert ranged.check(True) is not None  # a bool is not a width
    discrete = Knob(20, choices=(8, 14, 20), kind="int")
    assert discrete.check(14) is None and discrete.check(14.0) is None
    assert discrete.check(15) == "one of 8, 14, 20"
    whole = Knob(1, low=1, high=8, kind="int")
    assert whole.check(2.5) == "an integer in [1, 8]"


def test_knob_rejects_an_illegal_default() -> None:
    with pytest.raises(AssertionError):
        Knob(3, choices=(1, 2))


def test_missing_knobs_take_the_family_default() -> None:
    assert resolve_knobs("resnet", None, None) == (1.0, 20)
    assert resolve_knobs("wrn", None, 40) == (2.0, 40)
    assert resolve_knobs("mobilenetv2", None, None) == (1.0, 4)
    assert resolve_knobs("shufflenetv2", None, None) == (1.0, 3)


@pytest.mark.parametrize(
    ("family", "width", "depth", "key", "legal"),
    [
        ("resnet", None, 9, "depth", "one of 8, 14, 20, 32, 44, 56, 110"),
        ("resnet", 5.0, None, "width", "a number in [0.25, 4]"),
        ("wrn", 3, None, "width", "one of 1, 2, 4, 8, 10"),
        ("wrn", None, 12, "depth", "one of 10, 16, 22, 28, 40"),
        ("mobilenetv2", 2.5, None, "width", "a number in [0.25, 2]"),
        ("mobilenetv2", None, 5, "depth", "an integer in [1, 4]"),
        ("vgg", None, 10, "depth", "one of 8, 11, 13, 16, 19"),
        ("vgg", 0.1, None, "width", "a number in [0.25, 2]"),
        ("shufflenetv2", 0.75, None, "width", "one of 0.5, 1, 1.5, 2"),
        ("shufflenetv2", None, 7, "depth", "an integer in [1, 6]"),
        ("mlp", None, 0, "depth", "an integer in [1, 8]"),
        ("mlp", 9.0, None, "width", "a number in [0.125, 8]"),
        ("cnn", 10.0, None, "width", "a number in [0.25, 8]"),
        ("resnet8x4", 2.0, None, "width", "one of 4"),
        ("wrn40_2", None, 16, "depth", "one of 40"),
    ],
)
def test_illegal_knob_values_name_the_key_and_the_legal_values(
    family: str, width: float | None, depth: int | None, key: str, legal: str
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_knobs(family, width, depth)
    assert info.value.key == key and legal in info.value.expected
    # Through a recipe, the same error is located under the spec's key path.
    err = _error({"family": family, "width": width, "depth": depth})
    assert err.key == f"student.{key}" and err.file == "r.yaml"


def test_illegal_choice_hints_the_closest_legal_value() -> None:
    assert "closest legal value is 20" in _error({"family": "resnet", "depth": 21}).hint


def test_unknown_family_lists_names_and_suggests_the_closest() -> None:
    err = _error({"family": "resnet8x5"})
    assert err.key == "student.family"
    assert "resnet8x4" in err.expected and "torchvision.<name>" in err.expected
    assert "Did you mean 'resnet8x4'" in str(err)
    with pytest.raises(ConfigError):
        get_family("nope")


def test_validated_spec_carries_concrete_knobs_and_round_trips() -> None:
    spec = ModelSpec(family="resnet8x4")
    assert (spec.width, spec.depth) == (4.0, 8)
    assert ModelSpec(**spec.model_dump()) == spec
    wrn = ModelSpec(family="wrn", width=4)
    assert wrn.width == 4.0 and isinstance(wrn.width, float) and wrn.depth == 16
    assert ModelSpec.model_validate_json(wrn.model_dump_json()) == wrn


def test_cnn_spec_keeps_its_old_defaults() -> None:
    # Recipes written before the knobs were declared mean exactly what they meant.
    assert (ModelSpec().family, ModelSpec().width, ModelSpec().depth) == ("cnn", 1.0, 1)
    spec = ModelSpec(width=0.5, depth=2)
    assert (spec.width, spec.depth, spec.params, spec.weights) == (0.5, 2, {}, None)


def test_unknown_builder_argument_in_params_is_rejected() -> None:
    err = _error({"family": "resnet", "params": {"stem_chanels": 8}})
    assert err.key == "student.params" and "Did you mean 'stem_channels'" in str(err)
    # A variant fixes stem_channels, so it is no longer a free argument.
    assert _error({"family": "resnet8x4", "params": {"stem_channels": 8}}).key == "student.params"
    # Knobs have their own keys.
    assert "own keys" in _error({"family": "resnet", "params": {"depth": 8}}).hint


def test_weights_hash_needs_weights_and_hex_form() -> None:
    assert _error({"weights_sha256": "0" * 64}).key == "student.weights_sha256"
    assert _error({"weights": "w.pt", "weights_sha256": "xyz"}).key == "student.weights_sha256"


def test_unregistered_style_builder_gets_the_old_free_knobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A builder put in MODELS directly (no declared knobs) keeps the old ModelSpec bounds.
    name = "plain_test_builder"
    builder = lambda *, in_channels, num_classes, width=1.0, depth=1: None  # noqa: E731
    monkeypatch.setitem(MODELS._entries, name, builder)
    assert resolve_knobs(name, 12.0, None) == (12.0, 1)
    with pytest.raises(ConfigError):
        resolve_knobs(name, 17.0, None)


def test_describe_lists_each_family_knobs_and_legal_values() -> None:
    line = MODELS.describe("resnet")
    assert "width 0.25..4 default 1" in line
    assert "depth {8|14|20|32|44|56|110} default 20" in line
    assert "width 4 (fixed)" in MODELS.describe("resnet8x4")
    assert "stem_channels" not in MODELS.describe("resnet8x4")  # fixed by the variant


def test_describe_of_entries_without_knobs_is_unchanged() -> None:
    reg: Registry = Registry("thing")
    reg.register("plain")(lambda x=1: None)
    assert "knobs" not in reg.describe("plain")
