"""Initial weights for a student (ModelSpec.weights) and teacher checkpoints of new families."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from autokd.exceptions import ConfigError
from autokd.exceptions import MissingFileError
from autokd.models import build_model
from autokd.models import file_sha256
from autokd.models import load_checkpoint
from autokd.models import load_matching
from autokd.recipe import ModelSpec
from tests.models_tests._helpers import build


def _save(tmp_path: Path, family: str, *, num_classes: int, seed: int = 1) -> Path:
    torch.manual_seed(seed)
    model = build_model(ModelSpec(family=family), in_channels=3, num_classes=num_classes)
    path = tmp_path / f"{family}.pt"
    torch.save(model.state_dict(), path)
    return path


def test_matching_tensors_load_and_a_different_head_is_skipped(tmp_path: Path) -> None:
    # Weights saved for 100 classes initialise a 10-class student: all but the head.
    path = _save(tmp_path, "resnet8", num_classes=100)
    saved = torch.load(path, weights_only=True)
    model = build("resnet8", weights=str(path))
    own = model.state_dict()
    assert all(torch.equal(own[k], saved[k]) for k in own if not k.startswith("head."))
    assert own["head.weight"].shape == (10, 64)
    # The head keeps the value the seed gave it.
    assert torch.equal(own["head.weight"], build("resnet8").state_dict()["head.weight"])


def test_loading_draws_nothing_from_the_global_rng(tmp_path: Path) -> None:
    path = _save(tmp_path, "resnet8", num_classes=100)
    build("resnet8")
    plain = torch.get_rng_state()
    build("resnet8", weights=str(path))
    assert torch.equal(plain, torch.get_rng_state())


def test_load_matching_returns_the_skipped_names(tmp_path: Path) -> None:
    path = _save(tmp_path, "resnet8", num_classes=100)
    assert load_matching(build("resnet8"), path) == ["head.bias", "head.weight"]


def test_torchvision_weights_with_another_head(tmp_path: Path) -> None:
    torch.manual_seed(1)
    donor = build_model(ModelSpec(family="torchvision.resnet18"), in_channels=3, num_classes=20)
    path = tmp_path / "r18.pt"
    torch.save({"state_dict": donor.state_dict()}, path)  # a wrapped state_dict also works
    model = build("torchvision.resnet18", weights=str(path), weights_sha256=file_sha256(path))
    assert torch.equal(model.conv1.weight, donor.conv1.weight)
    assert model.fc.weight.shape == (10, 512)


def test_weights_of_another_architecture_are_rejected(tmp_path: Path) -> None:
    path = _save(tmp_path, "cnn", num_classes=10)
    with pytest.raises(ConfigError) as info:
        build("resnet8", weights=str(path))
    assert info.value.key == "weights" and "at least half" in info.value.expected


@pytest.mark.parametrize("content", [b"not a zip", None])
def test_a_file_that_is_not_a_state_dict_is_rejected(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "bad.pt"
    if content is None:
        torch.save([1, 2, 3], path)  # loads, but is a list
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        build("resnet8", weights=str(path))
    assert info.value.key == "weights"


def test_missing_weights_file_names_key_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "none.pt"
    with pytest.raises(MissingFileError) as info:
        build("resnet8", weights=str(missing))
    assert str(info.value).startswith("weights:") and str(missing) in str(info.value)


def test_hash_mismatch_is_rejected(tmp_path: Path) -> None:
    path = _save(tmp_path, "resnet8", num_classes=10)
    with pytest.raises(ConfigError) as info:
        build("resnet8", weights=str(path), weights_sha256="0" * 64)
    assert info.value.key == "weights" and "sha256" in str(info.value)


@pytest.mark.parametrize(
    "family", ["resnet8x4", "wrn16_1", "mobilenetv2_x0_5", "vgg8", "shufflenetv2", "mlp"]
)
def test_teacher_checkpoint_of_new_families_round_trips(tmp_path: Path, family: str) -> None:
    spec = ModelSpec(family=family)
    torch.manual_seed(3)
    original = build_model(spec, in_channels=3, num_classes=10).eval()
    path = tmp_path / "teacher.pt"
    torch.save(original.state_dict(), path)
    torch.manual_seed(4)  # a different init: equal outputs must come from the file
    loaded = load_checkpoint(spec, path, in_channels=3, num_classes=10, sha256=file_sha256(path))
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), original(x))


def test_teacher_checkpoint_rejects_another_depth(tmp_path: Path) -> None:
    path = tmp_path / "teacher.pt"
    torch.save(build("resnet8").state_dict(), path)
    with pytest.raises(ConfigError) as info:
        load_checkpoint(ModelSpec(family="resnet14"), path, in_channels=3, num_classes=10)
    assert "does not fit" in str(info.value)
