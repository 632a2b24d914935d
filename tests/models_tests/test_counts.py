"""Parameter counts against published and hand-derived values; MACs against hand counts."""

from __future__ import annotations

import pytest

from autokd.models import ModelInfo
from autokd.models import model_info
from tests.models_tests._helpers import bn
from tests.models_tests._helpers import build
from tests.models_tests._helpers import conv
from tests.models_tests._helpers import linear
from tests.models_tests._helpers import n_params

# CIFAR-100 (100 classes, 3x32x32) sizes in millions as published in the distillation
# literature: Tian et al., "Contrastive Representation Distillation", ICLR 2020 (Tables 1-2),
# and the papers that reuse its benchmark (DKD, CVPR 2022; ReviewKD, CVPR 2021).
_PUBLISHED_M = {
    "resnet8x4": 1.23,
    "resnet32x4": 7.43,
    "wrn40_2": 2.26,
    "wrn16_2": 0.70,
    "resnet56": 0.86,
    "resnet110": 1.74,
    "resnet20": 0.28,
    "vgg13": 9.46,
    "vgg8": 3.96,
    # Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016, Table 4 (WRN-28-10).
    "wrn28_10": 36.5,
}


@pytest.mark.parametrize("family", sorted(_PUBLISHED_M))
def test_parameter_count_matches_the_published_size(family: str) -> None:
    millions = n_params(build(family, num_classes=100)) / 1e6
    published = _PUBLISHED_M[family]
    # Published sizes are rounded to the shown digits; allow 1% on top of that.
    assert abs(round(millions, 2) - published) <= 0.01 * published, millions


def test_resnet8x4_count_by_hand() -> None:
    # stem 3->32, then one basic block per stage (32->64, 64->128 /2, 128->256 /2), each with
    # a 1x1 conv + BN projection shortcut because its channels change.
    def block(c_in: int, c_out: int) -> int:
        return (
            conv(3, c_in, c_out)
            + bn(c_out)
            + conv(3, c_out, c_out)
            + bn(c_out)
            + (conv(1, c_in, c_out) + bn(c_out))
        )

    total = conv(3, 3, 32) + bn(32)  # 864 + 64
    total += block(32, 64) + block(64, 128) + block(128, 256)  # 57,728 + 230,144 + 919,040
    total += linear(256, 100)  # 25,700
    assert total == 1_233_540
    assert n_params(build("resnet8x4", num_classes=100)) == total


def test_wrn40_2_count_by_hand() -> None:
    # Pre-activation blocks: BN(c_in), conv3x3 c_in->c_out, BN(c_out), conv3x3 c_out->c_out,
    # plus a 1x1 conv (no BN) where the channels change; 6 blocks per stage at 32/64/128.
    def block(c_in: int, c_out: int) -> int:
        shortcut = conv(1, c_in, c_out) if c_in != c_out else 0
        return bn(c_in) + conv(3, c_in, c_out) + bn(c_out) + conv(3, c_out, c_out) + shortcut

    total = conv(3, 3, 16)  # stem: 432
    for c_in, c_out in ((16, 32), (32, 64), (64, 128)):
        total += block(c_in, c_out) + 5 * block(c_out, c_out)
    total += bn(128) + linear(128, 100)  # final BN-ReLU and classifier
    assert total == 2_255_156
    assert n_params(build("wrn40_2", num_classes=100)) == total


def test_vgg8_count_by_hand() -> None:
    # One biased 3x3 conv + BN per group (64, 128, 256, 512, 512), then Linear(512, 100).
    total, c_in = 0, 3
    for c in (64, 128, 256, 512, 512):
        total += conv(3, c_in, c, bias=True) + bn(c)
        c_in = c
    total += linear(512, 100)
    assert total == 3_965_028  # 3.97M: the published 3.96M is 0.13% lower
    assert n_params(build("vgg8", num_classes=100)) == total


def test_mobilenetv2_x0_5_count_by_hand() -> None:
    # Sandler et al. Table 2 at width 0.5 (channels int(c / 2)): stem 3->16, bottlenecks
    # [1x1 expand (t > 1) + BN, 3x3 depthwise + BN, 1x1 project + BN], 1x1 conv 160->1280.
    total, c_in = conv(3, 3, 16) + bn(16), 16
    for t, c, n in ((1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3),
                    (6, 320, 1)):  # fmt: skip
        c_out = c // 2
        for _ in range(n):
            hidden = c_in * t
            expand = conv(1, c_in, hidden) + bn(hidden) if t != 1 else 0
            depthwise = conv(3, hidden, hidden, groups=hidden) + bn(hidden)
            total += expand + depthwise + conv(1, hidden, c_out) + bn(c_out)
            c_in = c_out
    total += conv(1, 160, 1280) + bn(1280) + linear(1280, 100)
    assert total == 812_548  # 0.81M
    assert n_params(build("mobilenetv2_x0_5", num_classes=100)) == total


def test_shufflenetv2_count_by_hand() -> None:
    # Ma et al. Table 5, 1.0x: stem 3->24, stages (116, 232, 464) with 3/7/3 units, conv5 1024.
    # A downsampling unit has a left branch (3x3 dw + BN, 1x1 + BN) and a right branch
    # (1x1 + BN, 3x3 dw + BN, 1x1 + BN) each giving c/2; a basic unit transforms c/2 only.
    def right(c_in: int, half: int) -> int:
        return (
            conv(1, c_in, half) + bn(half)
            + conv(3, half, half, groups=half) + bn(half)
            + conv(1, half, half) + bn(half)
        )  # fmt: skip

    total, c_in = conv(3, 3, 24) + bn(24), 24
    for c, n in ((116, 3), (232, 7), (464, 3)):
        half = c // 2
        left = conv(3, c_in, c_in, groups=c_in) + bn(c_in) + conv(1, c_in, half) + bn(half)
        total += left + right(c_in, half) + (n - 1) * right(half, half)
        c_in = c
    total += conv(1, 464, 1024) + bn(1024) + linear(1024, 100)
    assert total == 1_208_726
    assert n_params(build("shufflenetv2", num_classes=100)) == total


def test_mlp_count_by_hand() -> None:
    # 3x32x32 pooled to 3x8x8 = 192 inputs; hidden 512 (width 2); 3 hidden layers.
    total = linear(192, 512) + 2 * linear(512, 512) + linear(512, 100)
    assert n_params(build("mlp", width=2.0, depth=3, num_classes=100)) == total


def test_macs_of_a_tiny_cnn_by_hand() -> None:
    # cnn width 0.25 -> channels 4, 8, 16; 1x8x8 input. A 3x3 conv costs 9 * c_in * c_out MACs
    # per output pixel; max-pooling halves the side before stages 1 and 2.
    model = build("cnn", width=0.25, depth=1, in_channels=1)
    macs = (
        9 * 1 * 4 * 8 * 8  # stem, 8x8: 2,304
        + 9 * 4 * 4 * 8 * 8  # stage 0, 8x8: 9,216
        + 9 * 4 * 8 * 4 * 4  # stage 1, 4x4: 4,608
        + 9 * 8 * 16 * 2 * 2  # stage 2, 2x2: 4,608
        + 16 * 10  # head: 160
    )
    info = model_info(model, (1, 8, 8))
    assert info.macs == macs == 20_896
    assert info.params == n_params(model)


def test_macs_of_resnet8_by_hand() -> None:
    model = build("resnet8")
    macs = (
        9 * 3 * 16 * 32 * 32  # stem
        + 2 * 9 * 16 * 16 * 32 * 32  # stage 0: two 3x3 convs 16->16 at 32x32
        + (9 * 16 * 32 + 9 * 32 * 32 + 16 * 32) * 16 * 16  # stage 1 at 16x16 with projection
        + (9 * 32 * 64 + 9 * 64 * 64 + 32 * 64) * 8 * 8  # stage 2 at 8x8 with projection
        + 64 * 10  # head
    )
    assert model_info(model, (3, 32, 32)).macs == macs


def test_model_info_lists_taps_and_restores_training_mode() -> None:
    model = build("resnet8")
    info = model_info(model, (3, 32, 32))
    assert model.training  # measured in eval mode, handed back as it was
    assert list(info.stages) == ["stem", "stages.0", "stages.1", "stages.2", "pool", "head"]
    assert info.stages["stages.2"] == (64, 8, 8)
    text = info.summary()
    assert f"params {info.params:,}" in text and "stages.2  (64, 8, 8)" in text


def test_model_info_is_frozen() -> None:
    info = ModelInfo(stages={}, params=1, macs=2)
    with pytest.raises(AttributeError):
        info.params = 3  # type: ignore[misc]
