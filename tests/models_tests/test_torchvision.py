"""torchvision classification models as families: by name, no knobs, grey input, params."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from autokd._config import parse_model
from autokd.exceptions import ConfigError
from autokd.models import build_model
from autokd.models import get_family
from autokd.models import resolve_knobs
from autokd.recipe import ModelSpec
from tests.models_tests._helpers import build
from tests.models_tests._helpers import n_params
from tests.models_tests._helpers import tap_shapes


def _error(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_model(ModelSpec, data, file="r.yaml", prefix="student")
    return info.value


def test_resnet18_by_name_is_torchvisions_model_with_its_taps() -> None:
    import torchvision

    model = build("torchvision.resnet18", num_classes=10)
    assert type(model) is torchvision.models.ResNet
    # 11,181,642 parameters for 10 classes: torchvision's own resnet18 with that head.
    assert n_params(model) == n_params(torchvision.models.resnet18(num_classes=10))
    shapes = tap_shapes(model, ["layer1", "layer4", "avgpool", "fc"], torch.zeros(1, 3, 32, 32))
    assert shapes == {
        "layer1": (64, 8, 8),
        "layer4": (512, 1, 1),
        "avgpool": (512, 1, 1),
        "fc": (10,),
    }


def test_mobilenet_v3_small_by_name() -> None:
    model = build("torchvision.mobilenet_v3_small", num_classes=5)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert "features.0" in dict(model.named_modules())


@pytest.mark.parametrize("family", ["torchvision.resnet18", "torchvision.mobilenet_v3_small"])
def test_grey_input_is_repeated_to_rgb(family: str) -> None:
    grey = build(family, in_channels=1).eval()
    rgb = build(family, in_channels=3).eval()  # same seed: same weights
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(grey(x), rgb(x.repeat(1, 3, 1, 1)))


def test_other_channel_counts_are_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        build_model(ModelSpec(family="torchvision.resnet18"), in_channels=2, num_classes=10)
    assert "1 or 3 channels" in str(info.value)


def test_torchvision_families_have_no_knobs() -> None:
    assert resolve_knobs("torchvision.resnet18", None, None) == (None, None)
    spec = ModelSpec(family="torchvision.resnet18")
    assert spec.width is None and spec.depth is None
    assert ModelSpec(**spec.model_dump()) == spec
    err = _error({"family": "torchvision.resnet18", "depth": 18})
    assert err.key == "student.depth" and "fixed depth" in err.expected


def test_unknown_torchvision_name_suggests_the_closest() -> None:
    err = _error({"family": "torchvision.resnet19"})
    assert err.key == "student.family"
    assert "Did you mean 'torchvision.resnet18'" in str(err)
    # A detection model is not a classification model.
    with pytest.raises(ConfigError):
        get_family("torchvision.fasterrcnn_resnet50_fpn")


def test_params_reach_the_torchvision_constructor() -> None:
    model = build("torchvision.resnet18", params={"zero_init_residual": True})
    assert torch.count_nonzero(model.layer1[0].bn2.weight) == 0  # only with that argument
    assert torch.count_nonzero(build("torchvision.resnet18").layer1[0].bn2.weight) > 0


def test_bad_params_are_config_errors_and_weights_are_never_downloaded() -> None:
    err = _error({"family": "torchvision.resnet18", "params": {"widht": 2}})
    assert err.key == "student.params" and "widht" in err.hint
    err = _error({"family": "torchvision.resnet18", "params": {"weights": "IMAGENET1K_V1"}})
    assert err.key == "student.params" and "weights: PATH" in err.hint


def test_params_check_draws_nothing_from_the_global_rng() -> None:
    torch.manual_seed(0)
    state = torch.get_rng_state()
    ModelSpec(family="torchvision.resnet18", params={"zero_init_residual": True})
    assert torch.equal(state, torch.get_rng_state())
