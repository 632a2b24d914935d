from __future__ import annotations

import pytest
import torch

from autokd.engine import FeatureTaps
from autokd.engine import resolve_device
from autokd.exceptions import ConfigError
from autokd.exceptions import TrialSetupError
from autokd.models import build_model
from autokd.recipe import ModelSpec


def test_taps_record_named_outputs() -> None:
    model = build_model(ModelSpec(width=0.5), in_channels=1, num_classes=10)
    taps = FeatureTaps(model, ["stages.1", "pool"], role="student")
    model(torch.zeros(3, 1, 8, 8))
    out = taps.pop()
    assert out["stages.1"].shape == (3, 16, 4, 4) and out["pool"].shape == (3, 32, 1, 1)
    assert taps.pop() == {}
    taps.remove()
    model(torch.zeros(1, 1, 8, 8))
    assert taps.pop() == {}


def test_unknown_tap_names_closest() -> None:
    model = build_model(ModelSpec(), in_channels=1, num_classes=10)
    with pytest.raises(TrialSetupError) as info:
        FeatureTaps(model, ["stage.1"], role="teacher")
    assert "teacher has no module named 'stage.1'" in str(info.value)
    assert "stages.1" in str(info.value)


def test_device_strings() -> None:
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ConfigError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError):
            resolve_device("cuda:0")
        assert resolve_device("auto").type == "cpu"
