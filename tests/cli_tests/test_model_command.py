"""`autokd model`: knobs, parameters, MACs and taps of one built model; bad flags exit 2."""

from __future__ import annotations

import pytest

from autokd.cli import main


def _model(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["model", *argv]) == 0
    return capsys.readouterr().out


def test_mlp_counts_match_hand_computation(capsys: pytest.CaptureFixture[str]) -> None:
    # 3x32x32 pooled to 3x4x4 = 48 inputs -> 256 -> 256 -> 10 (pooling does no MACs).
    out = _model(capsys, "mlp", "--param", "grid=4")
    params = (48 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    macs = 48 * 256 + 256 * 256 + 256 * 10
    assert f"params {params:,} " in out and f"MACs {macs:,} " in out
    assert "built: width=1.0, depth=2, grid=4; input (3, 32, 32), 10 classes" in out


def test_resnet8x4_matches_the_published_count(capsys: pytest.CaptureFixture[str]) -> None:
    # CRD's resnet8x4 for CIFAR-100 has 1.23M parameters (Tian et al. 2020, table 1).
    out = _model(capsys, "resnet8x4", "--classes", "100")
    assert "params 1,233,540 (1.23M)" in out
    taps = {
        line.split()[0]: line.split(None, 1)[1] for line in out.splitlines() if line[:2] == "  "
    }
    assert taps["stages.2"] == "(256, 8, 8)" and taps["head"] == "(100,)"
    assert "width: 4 (fixed)" in out


def test_knobs_change_the_built_model(capsys: pytest.CaptureFixture[str]) -> None:
    out = _model(capsys, "resnet", "--width", "0.5", "--depth", "14", "--input", "1,28,28")
    assert "depth: {8|14|20|32|44|56|110} default 20" in out
    assert "stages.2  (32, 7, 7)" in out  # 64 * 0.5 channels, 28 -> 14 -> 7


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["resnet", "--depth", "15"], "depth: expected one of 8, 14, 20"),
        (["resnt"], "Did you mean 'resnet'?"),
        (["cnn", "--input", "3,32"], "--input: expected C,H,W"),
        (["cnn", "--param", "foo=1"], "params: expected arguments of cnn"),
        (["cnn", "--param", "foo"], "--param: expected KEY=VALUE"),
        (["cnn", "--classes", "0"], "--classes: expected a positive integer"),
    ],
)
def test_bad_flags_give_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    assert main(["model", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err
