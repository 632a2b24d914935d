"""The Splits contract and the split rules, on the fast generated set."""

from __future__ import annotations

from pathlib import Path
import re

import pydantic
import pytest
import torch

from autokd._config import parse_model
from autokd.data import Splits
from autokd.data import load_splits
from autokd.exceptions import AutokdError
from autokd.exceptions import ConfigError
from autokd.recipe import DataSpec
from autokd.testing.fake_data import write_idx

SMALL = {"train": 200, "test": 50}


def synthetic(**fields: object) -> Splits:
    params = fields.pop("params", SMALL)
    return load_splits(DataSpec(name="synthetic", params=params, **fields))  # type: ignore[arg-type]


def rows(x: torch.Tensor) -> set[bytes]:
    return {bytes(r) for r in x.flatten(1).numpy()}


def test_part_sizes() -> None:
    # Rule: validation is val_fraction of the training images; the official test stays whole.
    s = synthetic(val_fraction=0.2)
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (160, 40, 50)
    assert s.num_classes == 10 and s.image_shape == (3, 32, 32) and s.in_channels == 3


def test_parts_are_disjoint_and_test_stays_out_of_search_parts() -> None:
    # Rule: no image is in two parts; the generated test images never reach train or val.
    s = synthetic()
    train, val, test = rows(s.train_x), rows(s.val_x), rows(s.test_x)
    assert len(train) == 160 and len(val) == 40 and len(test) == 50
    assert not train & val and not (train | val) & test


def test_validation_is_stratified() -> None:
    # Rule: each class keeps its share of the training images in validation.
    s = synthetic(params={"train": 1000, "test": 10})
    assert torch.bincount(s.val_y, minlength=10).tolist() == [20] * 10


def test_train_size_keeps_a_stratified_subset_of_the_train_part() -> None:
    # Rule: train_size subsamples the train part only (stratified); val and test unchanged.
    full = synthetic()
    small = synthetic(train_size=50)
    assert len(small.train_y) == 50
    assert torch.bincount(small.train_y, minlength=10).tolist() == [5] * 10
    assert rows(small.train_x) <= rows(full.train_x)
    assert torch.equal(small.val_x, full.val_x) and torch.equal(small.test_x, full.test_x)


@pytest.mark.parametrize("size", [5, 161])
def test_train_size_out_of_range_is_a_config_error(size: int) -> None:
    # Rule: train_size below the class count or above the train part names data.train_size.
    with pytest.raises(ConfigError, match=r"^data\.train_size: expected between 10 .* 160"):
        synthetic(train_size=size)


def test_a_fraction_that_empties_a_class_is_a_config_error() -> None:
    # Rule: a validation part smaller than the class count names data.val_fraction.
    with pytest.raises(ConfigError, match=r"^data\.val_fraction: "):
        synthetic(params={"train": 20, "test": 10}, val_fraction=0.1)


def test_split_hash_is_stable_across_loads() -> None:
    # Rule: loading the same spec twice gives the same 64-hex hash.
    first = synthetic().split_hash
    load_splits.cache_clear()
    assert re.fullmatch("[0-9a-f]{64}", first) and synthetic().split_hash == first


@pytest.mark.parametrize("change", [{"split_seed": 1}, {"val_fraction": 0.3}, {"train_size": 100}])
def test_split_hash_changes_with_the_split(change: dict) -> None:
    # Rule: the seed, the validation share and train_size all change the hash.
    assert synthetic(**change).split_hash != synthetic().split_hash


def test_split_hash_changes_when_one_pixel_changes(tmp_path: Path) -> None:
    # Rule: the hash covers the image bytes, so editing one pixel changes it.
    write_idx(tmp_path, n_train=100, n_test=10, gz=False)
    spec = DataSpec(name="mnist", root=str(tmp_path))
    before = load_splits(spec).split_hash
    path = tmp_path / "train-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    load_splits.cache_clear()
    assert load_splits(spec).split_hash != before


def test_recorded_split_hash_must_match() -> None:
    # Rule: a recipe's split_hash that differs from the loaded one is a ConfigError naming both.
    good = synthetic().split_hash
    spec = DataSpec(name="synthetic", params=SMALL, split_hash=good)
    assert load_splits(spec).split_hash == good
    bad = DataSpec(name="synthetic", params=SMALL, split_hash="0" * 64)
    with pytest.raises(ConfigError) as info:
        load_splits(bad)
    message = str(info.value)
    assert message.startswith("data.split_hash: expected 000000000000...")
    assert f"but got {good[:12]}..." in message and "changed" in message


def test_split_hash_must_be_64_hex() -> None:
    # Rule: a malformed recorded hash is rejected when the spec is built.
    with pytest.raises(ConfigError, match=r"data\.split_hash"):
        parse_model(DataSpec, {"split_hash": "abc"}, file="r.yaml", prefix="data")


def test_load_splits_caches_and_cache_clear_forgets() -> None:
    # Rule: equal specs share one Splits until cache_clear.
    a = synthetic()
    assert synthetic() is a
    load_splits.cache_clear()
    assert synthetic() is not a


def test_normalise_is_per_channel_on_train() -> None:
    # Rule: after normalise every channel of the train part has mean 0 and std 1.
    s = synthetic()
    x = s.normalise(s.train_x)  # (N, 3, 32, 32) float32
    assert x.dtype == torch.float32
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
    assert len(set(s.mean)) == 3  # the channels really have different statistics


def test_normalise_runs_on_the_input_device() -> None:
    # Rule: normalise builds its mean/std on x's device (meta needs no memory).
    s = synthetic()
    out = s.normalise(s.train_x[:2].to("meta"))
    assert out.device.type == "meta" and out.shape == (2, 3, 32, 32)


def test_to_moves_images_and_labels() -> None:
    # Rule: to(device) moves every in-memory tensor and keeps the other fields.
    s = synthetic()
    moved = s.to("meta")
    tensors = [moved.train_x, moved.val_x, moved.test_x, moved.train_y, moved.val_y, moved.test_y]
    assert all(t.device.type == "meta" for t in tensors)
    assert moved.split_hash == s.split_hash and moved.mean == s.mean
    assert s.train_x.device.type == "cpu"  # the original stays where it was


def test_first_gives_the_first_training_images() -> None:
    # Rule: first(n) is the first n train images as uint8, for shape probes.
    s = synthetic()
    first = s.first(4)
    assert first.dtype == torch.uint8 and torch.equal(first, s.train_x[:4])
    assert s.in_memory


def test_splits_reject_float_images() -> None:
    # Rule: in-memory images must be raw uint8 (N, C, H, W).
    s = synthetic()
    with pytest.raises(AutokdError, match="uint8"):
        Splits(
            train_x=s.train_x.float(),
            train_y=s.train_y,
            val_x=s.val_x,
            val_y=s.val_y,
            test_x=s.test_x,
            test_y=s.test_y,
            num_classes=10,
            mean=s.mean,
            std=s.std,
            split_hash=s.split_hash,
        )


def test_unknown_params_key_is_named() -> None:
    # Rule: an unknown dataset option is a ConfigError naming params.<key> and the valid keys.
    data = {"name": "synthetic", "params": {"colour": 1}}
    with pytest.raises(ConfigError) as info:
        parse_model(DataSpec, data, file="study.yaml", prefix="data")
    message = str(info.value)
    assert message.startswith("study.yaml: data.params.colour: expected one of the keys")
    assert "num_classes" in message and "unknown key 'colour'" in message


def test_params_for_a_dataset_without_options_are_refused() -> None:
    # Rule: a dataset that takes no options refuses any params key.
    data = {"name": "mnist", "params": {"size": 3}}
    with pytest.raises(ConfigError, match=r"data\.params\.size: expected no params"):
        parse_model(DataSpec, data, file="study.yaml", prefix="data")


def test_bad_params_value_is_named() -> None:
    # Rule: a wrong option value is a ConfigError naming params.<key>.
    with pytest.raises(pydantic.ValidationError, match=r"params\.channels"):
        DataSpec(name="synthetic", params={"channels": 2})


def test_load_splits_checks_params_of_unvalidated_specs() -> None:
    # Rule: load_splits validates params itself (a spec built without validation).
    spec = DataSpec.model_construct(**{**DataSpec().model_dump(), "params": {"x": 1}})
    with pytest.raises(ConfigError, match=r"^data\.params\.x: "):
        load_splits(spec)
