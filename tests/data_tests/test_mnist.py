"""MNIST and Fashion-MNIST: the real shared files, the idx reader and its errors."""

from __future__ import annotations

import gzip
from pathlib import Path
import shutil

import numpy as np
import pytest
import torch
import torchvision.datasets

from autokd.data import load_splits
from autokd.data._idx import read_idx
from autokd.exceptions import ConfigError
from autokd.exceptions import MissingFileError
from autokd.recipe import DataSpec
from autokd.testing.fake_data import write_idx
from tests.data_tests.conftest import FASHION_ROOT
from tests.data_tests.conftest import MNIST_ROOT

# Class counts of the official sets (LeCun et al.; Xiao et al. 2017).
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def mnist() -> DataSpec:
    return DataSpec(name="mnist", root=str(MNIST_ROOT))


def test_mnist_keeps_the_official_test_set() -> None:
    # Rule: the 10,000 official test images are the test part, in file order.
    s = load_splits(mnist())
    assert len(s.test_y) == 10_000
    assert torch.bincount(s.test_y).tolist() == MNIST_TEST_COUNTS
    assert s.test_y[:3].tolist() == [7, 2, 1]  # the first three labels of t10k-labels


def test_mnist_validation_comes_from_the_60000_training_images() -> None:
    # Rule: train + val are the official training set, val 20% of it, stratified.
    s = load_splits(mnist())
    assert (len(s.train_y), len(s.val_y)) == (48_000, 12_000)
    both = torch.bincount(s.train_y, minlength=10) + torch.bincount(s.val_y, minlength=10)
    assert both.tolist() == MNIST_TRAIN_COUNTS
    share = torch.bincount(s.val_y).double() / torch.tensor(MNIST_TRAIN_COUNTS)
    assert torch.all((share - 0.2).abs() < 1e-3)


def test_mnist_pixels_are_raw_bytes() -> None:
    # Rule: images are uint8 (1, 28, 28), full 0..255 range; the train mean is MNIST's ~33.3.
    s = load_splits(mnist())
    assert s.image_shape == (1, 28, 28) and s.train_x.dtype == torch.uint8
    assert int(s.train_x.min()) == 0 and int(s.train_x.max()) == 255
    assert abs(s.mean[0] - 0.1307 * 255) < 0.5 and abs(s.std[0] - 0.3081 * 255) < 0.5
    assert s.classes == tuple("0123456789")


def test_fashion_mnist_has_1000_test_images_per_class() -> None:
    # Rule: Fashion-MNIST's test set holds 1,000 of each class, its train set 6,000.
    s = load_splits(DataSpec(name="fashion_mnist", root=str(FASHION_ROOT)))
    assert torch.bincount(s.test_y).tolist() == [1000] * 10
    both = torch.bincount(s.train_y) + torch.bincount(s.val_y)
    assert both.tolist() == [6000] * 10
    assert abs(s.mean[0] - 0.2860 * 255) < 0.5  # Fashion-MNIST's well-known mean
    assert s.classes is not None and s.classes[9] == "Ankle boot"
    assert s.test_y[0].item() == 9


@pytest.mark.parametrize("sub", [".", "raw", "MNIST/raw"])
@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_are_found_in_each_layout(tmp_path: Path, sub: str, gz: bool) -> None:
    # Rule: the files may sit in root, root/raw or root/MNIST/raw, plain or gzipped.
    write_idx(tmp_path / sub, n_train=50, n_test=20, gz=gz)
    s = load_splits(DataSpec(name="mnist", root=str(tmp_path)))
    assert (len(s.train_y) + len(s.val_y), len(s.test_y)) == (50, 20)


def test_read_idx_returns_the_written_array(tmp_path: Path) -> None:
    # Rule: the reader gives back the header's sizes and the exact bytes.
    write_idx(tmp_path, n_train=7, n_test=3, gz=False)
    images = read_idx(tmp_path / "train-images-idx3-ubyte", ndim=3)
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    assert images.shape == (7, 28, 28)
    assert images.tobytes() == raw[16:]


def test_missing_root_names_what_was_searched(tmp_path: Path) -> None:
    # Rule: missing files raise one line naming the root, the folders, the files and download.
    root = tmp_path / "nowhere"
    with pytest.raises(MissingFileError) as info:
        load_splits(DataSpec(name="mnist", root=str(root)))
    message = str(info.value)
    assert "\n" not in message and str(root) in message
    assert str(root / "MNIST" / "raw") in message and "t10k-labels-idx1-ubyte" in message
    assert "download: true" in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    # Rule: with three of four files present, the message names the one lacking.
    write_idx(tmp_path, n_train=20, n_test=10)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MissingFileError, match=r"lacks t10k-labels-idx1-ubyte"):
        load_splits(DataSpec(name="mnist", root=str(tmp_path)))


def test_root_must_be_set() -> None:
    # Rule: mnist without data.root is a ConfigError naming data.root.
    with pytest.raises(ConfigError, match=r"^data\.root: expected the folder holding"):
        load_splits(DataSpec(name="mnist"))


def test_truncated_gz_is_named(tmp_path: Path) -> None:
    # Rule: a cut-off gzip file is a ConfigError naming that file.
    write_idx(tmp_path, n_train=20, n_test=10)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ConfigError, match=rf"^{path}: expected a complete gzip file"):
        load_splits(DataSpec(name="mnist", root=str(tmp_path)))


def test_truncated_payload_is_named(tmp_path: Path) -> None:
    # Rule: data shorter than the header promises is a ConfigError saying it is truncated.
    write_idx(tmp_path, n_train=20, n_test=10, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ConfigError, match=rf"^{path}: .*the file is truncated"):
        load_splits(DataSpec(name="mnist", root=str(tmp_path)))


def test_wrong_magic_is_named(tmp_path: Path) -> None:
    # Rule: a labels file where images belong (magic 0x00000801) is refused, naming the file.
    write_idx(tmp_path, n_train=20, n_test=10, gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    shutil.copy(tmp_path / "train-labels-idx1-ubyte", images)
    with pytest.raises(ConfigError, match=rf"^{images}: .*0x00000803.*0x00000801"):
        load_splits(DataSpec(name="mnist", root=str(tmp_path)))


def test_label_count_mismatch_is_named(tmp_path: Path) -> None:
    # Rule: a labels file with another count than its images file names the labels file.
    write_idx(tmp_path / "a", n_train=30, n_test=10)
    write_idx(tmp_path / "b", n_train=20, n_test=10)
    labels = tmp_path / "a" / "train-labels-idx1-ubyte.gz"
    shutil.copy(tmp_path / "b" / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(ConfigError, match=rf"^{labels}: expected as many labels as images \(30"):
        load_splits(DataSpec(name="mnist", root=str(tmp_path / "a")))


def test_labels_above_nine_are_refused(tmp_path: Path) -> None:
    # Rule: idx labels must be digits 0..9.
    write_idx(tmp_path, n_train=20, n_test=10, gz=False)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-1] + bytes([12]))
    with pytest.raises(ConfigError, match=r"label 12"):
        load_splits(DataSpec(name="mnist", root=str(tmp_path)))


def fake_torchvision(folder: str, calls: list) -> type:
    """Stands in for torchvision.datasets.<folder>: writes idx files, never the network."""

    class Fake:
        def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
            calls.append((root, download))
            write_idx(Path(root) / folder / "raw", n_train=60, n_test=10)

    return Fake


@pytest.mark.parametrize(("name", "cls"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_download_true_asks_torchvision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, cls: str
) -> None:
    # Rule: with download: true a missing set is fetched by torchvision into root, then read.
    calls: list = []
    monkeypatch.setattr(torchvision.datasets, cls, fake_torchvision(cls, calls))
    s = load_splits(DataSpec(name=name, root=str(tmp_path), download=True))
    assert calls == [(str(tmp_path), True)]
    assert len(s.test_y) == 10


def test_no_download_without_the_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rule: without download: true torchvision is never called.
    calls: list = []
    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_torchvision("MNIST", calls))
    with pytest.raises(MissingFileError):
        load_splits(DataSpec(name="mnist", root=str(tmp_path)))
    assert calls == []


def test_failed_download_is_a_missing_file_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rule: a download that fails reports the root and the reason in one line.
    def offline(root: str, train: bool = True, download: bool = False) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(MissingFileError, match=rf"mnist: downloading into {tmp_path} failed"):
        load_splits(DataSpec(name="mnist", root=str(tmp_path), download=True))


def test_write_idx_gz_matches_plain(tmp_path: Path) -> None:
    # Rule: the fake writer's gz files decompress to its plain files.
    write_idx(tmp_path / "gz", n_train=5, n_test=2, seed=3)
    write_idx(tmp_path / "plain", n_train=5, n_test=2, seed=3, gz=False)
    packed = gzip.decompress((tmp_path / "gz" / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert packed == (tmp_path / "plain" / "t10k-images-idx3-ubyte").read_bytes()
    labels = read_idx(tmp_path / "plain" / "train-labels-idx1-ubyte", ndim=1)
    assert labels.dtype == np.uint8 and labels.max() <= 9
