"""Every family: forward shapes, stable tap names with their sizes, and what each knob does."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from autokd.models import MODELS
from autokd.models._mobilenetv2 import InvertedResidual
from autokd.models._resnet import BasicBlock
from autokd.models._shufflenetv2 import ShuffleUnit
from autokd.models._shufflenetv2 import channel_shuffle
from autokd.models._wrn import PreActBlock
from tests.models_tests._helpers import build
from tests.models_tests._helpers import tap_shapes

# The two largest variants (36M and 20M parameters) are left out to keep the suite fast; their
# families are covered by the others.
_SLOW = ("wrn28_10", "vgg19")
_FAMILIES = [n for n in MODELS.list() if n not in _SLOW]


@pytest.mark.parametrize("family", _FAMILIES)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 8, 8)])
def test_every_family_gives_logits_for_any_input_size_and_channels(
    family: str, shape: tuple[int, int, int]
) -> None:
    model = build(family, in_channels=shape[0], num_classes=7)
    out = model(torch.randn(2, *shape))
    # Logits for each sample and class, finite (the forward pass is well formed).
    assert out.shape == (2, 7) and torch.isfinite(out).all()


# Spatial side of each tap for a 32x32 input (None: a 2-D (B, C) output).
_TAPS_32 = {
    "cnn": {"stem": 32, "stages.0": 32, "stages.1": 16, "stages.2": 8, "pool": 1},
    "resnet": {"stem": 32, "stages.0": 32, "stages.1": 16, "stages.2": 8, "pool": 1},
    "wrn": {"stem": 32, "stages.0": 32, "stages.1": 16, "stages.2": 8, "neck": 8, "pool": 1},
    "mobilenetv2": {
        "stem": 32,
        **{f"stages.{i}": s for i, s in enumerate((32, 32, 16, 8, 8, 4, 4))},
        "neck": 4,
        "pool": 1,
    },
    "vgg": {"stem": 32, "stages.0": 16, "stages.1": 8, "stages.2": 4, "stages.3": 2, "pool": 1},
    "shufflenetv2": {
        "stem": 32,
        "stages.0": 16,
        "stages.1": 8,
        "stages.2": 4,
        "neck": 4,
        "pool": 1,
    },
    "mlp": {"stem": None, "stages.0": None},
}


@pytest.mark.parametrize("family", sorted(_TAPS_32))
def test_tap_names_and_their_spatial_sizes(family: str) -> None:
    model = build(family, num_classes=10)
    names = [*_TAPS_32[family], "head"]
    shapes = tap_shapes(model, names, torch.zeros(2, 3, 32, 32))
    assert shapes["head"] == (10,)
    for name, side in _TAPS_32[family].items():
        expected = 1 if side is None else 3
        assert len(shapes[name]) == expected, name
        if side is not None:
            assert shapes[name][1:] == (side, side), name


def test_vgg_pooling_rounds_up_so_small_inputs_reach_the_last_stage() -> None:
    names = ["stem", "stages.0", "stages.1", "stages.2", "stages.3"]
    shapes = tap_shapes(build("vgg8", in_channels=1), names, torch.zeros(1, 1, 28, 28))
    assert [s[1] for s in shapes.values()] == [28, 14, 7, 4, 2]
    shapes = tap_shapes(build("vgg8", in_channels=1), names, torch.zeros(1, 1, 8, 8))
    assert [s[1] for s in shapes.values()] == [8, 4, 2, 1, 1]


def _blocks(model: nn.Module, kind: type) -> list[int]:
    """Number of ``kind`` blocks in each stage."""
    return [sum(isinstance(m, kind) for m in stage.modules()) for stage in model.stages]


@pytest.mark.parametrize("depth", [8, 14, 20, 32, 44, 56, 110])
def test_resnet_depth_is_6n_plus_2(depth: int) -> None:
    assert _blocks(build("resnet", depth=depth), BasicBlock) == [(depth - 2) // 6] * 3


@pytest.mark.parametrize("width", [0.25, 1.0, 2.5, 4.0])
def test_resnet_width_multiplies_stem_and_stage_channels(width: float) -> None:
    model = build("resnet", width=width, depth=8)
    assert model.stem[0].out_channels == round(16 * width)
    assert [s[-1].conv2.out_channels for s in model.stages] == [
        round(c * width) for c in (16, 32, 64)
    ]
    assert model.head.in_features == round(64 * width)


def test_resnet_projection_shortcut_only_where_the_shape_changes() -> None:
    model = build("resnet", depth=14)  # 2 blocks per stage
    projections = [
        [isinstance(b.shortcut, nn.Sequential) for b in stage] for stage in model.stages
    ]
    assert projections == [[False, False], [True, False], [True, False]]
    assert build("resnet8x4").stages[0][0].shortcut[0].in_channels == 32  # 32 -> 64


@pytest.mark.parametrize("depth", [10, 16, 22, 28, 40])
def test_wrn_depth_is_6n_plus_4(depth: int) -> None:
    assert _blocks(build("wrn", width=1, depth=depth), PreActBlock) == [(depth - 4) // 6] * 3


@pytest.mark.parametrize("width", [1, 2, 4, 8, 10])
def test_wrn_width_is_the_widening_factor(width: int) -> None:
    model = build("wrn", width=width, depth=10)
    assert model.stem.out_channels == 16
    assert [s[0].conv2.out_channels for s in model.stages] == [16 * width, 32 * width, 64 * width]


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_mobilenetv2_depth_caps_the_repeats_of_each_stage(depth: int) -> None:
    expected = [min(n, depth) for n in (1, 2, 3, 4, 3, 3, 1)]
    assert _blocks(build("mobilenetv2", depth=depth), InvertedResidual) == expected


@pytest.mark.parametrize("width", [0.25, 0.5, 1.0, 1.4, 2.0])
def test_mobilenetv2_width_scales_channels_and_only_grows_the_neck(width: float) -> None:
    model = build("mobilenetv2", width=width, depth=1)
    assert model.stem[0].out_channels == int(32 * width)
    assert [s[0].conv[-1].num_features for s in model.stages] == [
        int(c * width) for c in (16, 24, 32, 64, 96, 160, 320)
    ]
    assert model.head.in_features == (int(1280 * width) if width > 1 else 1280)


def test_mobilenetv2_expands_by_six_after_the_first_stage() -> None:
    model = build("mobilenetv2_x0_5")
    first, second = model.stages[0][0].conv, model.stages[1][0].conv
    # t = 1: the block starts with the depthwise conv on the 16 stem channels (32 * 0.5).
    assert first[0].groups == first[0].in_channels == 16
    assert second[0].out_channels == 6 * second[0].in_channels


_VGG_CONVS = {
    8: [1, 1, 1, 1, 1],
    11: [1, 1, 2, 2, 2],
    13: [2, 2, 2, 2, 2],
    16: [2, 2, 3, 3, 3],
    19: [2, 2, 4, 4, 4],
}


@pytest.mark.parametrize("depth", sorted(_VGG_CONVS))
def test_vgg_depth_sets_convs_per_group(depth: int) -> None:
    model = build("vgg", depth=depth, width=0.25)
    groups = [model.stem, *model.stages]
    convs = [sum(isinstance(m, nn.Conv2d) for m in g.modules()) for g in groups]
    assert convs == _VGG_CONVS[depth]


@pytest.mark.parametrize("width", [0.25, 0.5, 2.0])
def test_vgg_width_scales_group_channels_and_the_classifier(width: float) -> None:
    model = build("vgg", depth=8, width=width)
    groups = [model.stem, *model.stages]
    channels = [
        [m for m in g.modules() if isinstance(m, nn.Conv2d)][-1].out_channels for g in groups
    ]
    assert channels == [round(c * width) for c in (64, 128, 256, 512, 512)]
    assert model.head.in_features == round(512 * width)


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_shufflenetv2_depth_gives_d_2d_plus_1_d_units(depth: int) -> None:
    expected = [depth, 2 * depth + 1, depth]
    assert _blocks(build("shufflenetv2", width=0.5, depth=depth), ShuffleUnit) == expected


@pytest.mark.parametrize(
    ("width", "channels"),
    [
        (0.5, (48, 96, 192, 1024)),
        (1.0, (116, 232, 464, 1024)),
        (1.5, (176, 352, 704, 1024)),
        (2.0, (244, 488, 976, 2048)),
    ],
)
def test_shufflenetv2_width_selects_the_paper_channel_table(
    width: float, channels: tuple[int, ...]
) -> None:
    model = build("shufflenetv2", width=width, depth=1)
    shapes = tap_shapes(
        model, ["stages.0", "stages.1", "stages.2", "neck"], torch.zeros(1, 3, 8, 8)
    )
    assert tuple(s[0] for s in shapes.values()) == channels


def test_channel_shuffle_interleaves_the_two_halves() -> None:
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


@pytest.mark.parametrize(("width", "depth"), [(0.125, 1), (1.0, 3), (2.0, 8)])
def test_mlp_width_sets_hidden_units_and_depth_hidden_layers(width: float, depth: int) -> None:
    model = build("mlp", width=width, depth=depth)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == depth + 1  # hidden layers + classifier
    assert all(m.out_features == round(256 * width) for m in linears[:-1])
    assert len(model.stages) == depth - 1


def test_mlp_flattens_the_pooled_image() -> None:
    # grid 8 on an 8x8 image is a plain flatten: the first layer sees every pixel.
    model = build("mlp", in_channels=1, params={"grid": 28})
    assert model.stem[2].in_features == 28 * 28
    assert build("mlp", in_channels=3).stem[2].in_features == 3 * 8 * 8


# A named variant is the family with its knobs (and fixed extras): same tensors, same init.
_VARIANTS = {
    "resnet8": ("resnet", 1.0, 8, {}),
    "resnet14": ("resnet", 1.0, 14, {}),
    "resnet20": ("resnet", 1.0, 20, {}),
    "resnet32": ("resnet", 1.0, 32, {}),
    "resnet44": ("resnet", 1.0, 44, {}),
    "resnet56": ("resnet", 1.0, 56, {}),
    "resnet110": ("resnet", 1.0, 110, {}),
    "resnet8x4": ("resnet", 4.0, 8, {"stem_channels": 32}),
    "resnet32x4": ("resnet", 4.0, 32, {"stem_channels": 32}),
    "wrn16_1": ("wrn", 1, 16, {}),
    "wrn16_2": ("wrn", 2, 16, {}),
    "wrn40_1": ("wrn", 1, 40, {}),
    "wrn40_2": ("wrn", 2, 40, {}),
    "wrn28_10": ("wrn", 10, 28, {}),
    "mobilenetv2_x0_5": ("mobilenetv2", 0.5, 4, {}),
    "vgg8": ("vgg", 1.0, 8, {}),
    "vgg11": ("vgg", 1.0, 11, {}),
    "vgg13": ("vgg", 1.0, 13, {}),
    "vgg16": ("vgg", 1.0, 16, {}),
    "vgg19": ("vgg", 1.0, 19, {}),
}


def test_every_variant_is_listed_here() -> None:
    bases = {"cnn", "mlp", "resnet", "wrn", "mobilenetv2", "vgg", "shufflenetv2"}
    assert set(MODELS.list()) == bases | set(_VARIANTS)


@pytest.mark.parametrize("variant", [v for v in _VARIANTS if v not in _SLOW])
def test_named_variant_equals_family_with_knobs(variant: str) -> None:
    family, width, depth, params = _VARIANTS[variant]
    a = build(variant).state_dict()
    b = build(family, width=width, depth=depth, params=params).state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
