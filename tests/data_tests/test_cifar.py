"""CIFAR-10/100 from fixtures in the official pickle format; the restricted unpickler."""

from __future__ import annotations

import os
from pathlib import Path
import pickle
import shutil

import numpy as np
import pytest
import torch
import torchvision.datasets

from autokd.data import load_splits
from autokd.exceptions import ConfigError
from autokd.exceptions import MissingFileError
from autokd.recipe import DataSpec
from autokd.testing.fake_data import CIFAR10_CLASSES
from autokd.testing.fake_data import write_cifar


def read_trusted(path: Path) -> dict:
    """Plain pickle.load: only for files this test suite wrote itself."""
    with path.open("rb") as f:
        return pickle.load(f, encoding="bytes")


def cifar(root: Path, name: str = "cifar10", **fields: object) -> DataSpec:
    return DataSpec(name=name, root=str(root), **fields)  # type: ignore[arg-type]


@pytest.fixture
def broken(tmp_path: Path, cifar10_root: Path) -> Path:
    """A writable copy of the CIFAR-10 fixture folder, to corrupt."""
    return Path(shutil.copytree(cifar10_root, tmp_path / "cifar-10-batches-py"))


def test_cifar10_sizes_and_names(cifar10_root: Path) -> None:
    # Rule: the official test batch is the test part; val is 20% of the five train batches.
    s = load_splits(cifar(cifar10_root))
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (480, 120, 100)
    assert s.image_shape == (3, 32, 32) and s.num_classes == 10
    assert s.classes == CIFAR10_CLASSES


def test_cifar_rows_are_rgb_planes(cifar10_root: Path) -> None:
    # Rule: pixel (row, col, channel) of image i is byte channel*1024 + row*32 + col of row i.
    data = read_trusted(cifar10_root / "test_batch")[b"data"]  # (100, 3072) uint8
    s = load_splits(cifar(cifar10_root))
    for i, row, col, channel in [(0, 0, 0, 0), (3, 5, 31, 1), (57, 31, 2, 2), (99, 17, 9, 1)]:
        expected = data[i, channel * 1024 + row * 32 + col]
        assert s.test_x[i, channel, row, col].item() == expected


def test_cifar_train_and_val_hold_exactly_the_train_batches(cifar10_root: Path) -> None:
    # Rule: train + val together are the 600 training rows, none lost or repeated.
    batches = [read_trusted(cifar10_root / f"data_batch_{i}") for i in range(1, 6)]
    expected = sorted(bytes(r) for b in batches for r in b[b"data"])
    s = load_splits(cifar(cifar10_root))
    got = sorted(bytes(r) for part in (s.train_x, s.val_x) for r in part.flatten(1).numpy())
    assert got == expected


def test_root_may_be_the_folder_itself_or_its_parent(cifar10_root: Path) -> None:
    # Rule: root or root/cifar-10-batches-py both hold the files.
    a = load_splits(cifar(cifar10_root))
    b = load_splits(cifar(cifar10_root.parent))
    assert a.split_hash == b.split_hash


def test_cifar100_uses_fine_labels(cifar100_root: Path) -> None:
    # Rule: CIFAR-100 labels are the 100 fine labels, names from meta.
    fine = read_trusted(cifar100_root / "test")[b"fine_labels"]
    s = load_splits(cifar(cifar100_root, "cifar100", val_fraction=0.1))
    assert s.num_classes == 100 and s.test_y.tolist() == fine
    assert s.classes is not None and len(s.classes) == 100
    assert int(torch.cat([s.train_y, s.val_y]).max()) > 19  # not the 20 coarse labels


def test_missing_meta_leaves_classes_unnamed(broken: Path) -> None:
    # Rule: batches.meta only names classes; without it the set still loads.
    (broken / "batches.meta").unlink()
    assert load_splits(cifar(broken)).classes is None


def test_missing_files_name_the_root_and_the_files(tmp_path: Path) -> None:
    # Rule: no CIFAR files: one line naming the root, the folder, the files and download.
    with pytest.raises(MissingFileError) as info:
        load_splits(cifar(tmp_path))
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "cifar-10-batches-py") in message
    assert "data_batch_5" in message and "test_batch" in message and "download: true" in message


def test_a_missing_batch_is_missing(broken: Path) -> None:
    # Rule: four of five train batches is not a CIFAR-10 set.
    (broken / "data_batch_3").unlink()
    with pytest.raises(MissingFileError, match="data_batch_3"):
        load_splits(cifar(broken))


def test_garbage_is_not_a_batch_file(broken: Path) -> None:
    # Rule: a file that is no pickle is a ConfigError naming it.
    path = broken / "data_batch_2"
    path.write_bytes(b"this is not a pickle at all")
    with pytest.raises(ConfigError, match=rf"^{path}: .*not a CIFAR batch file"):
        load_splits(cifar(broken))


class _RunsACommand:
    """Pickles as a call to os.system, the classic malicious pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_imports_os_system_is_refused(broken: Path, tmp_path: Path) -> None:
    # Rule: only numpy's array rebuilders are resolved; os.system is refused, never run.
    marker = tmp_path / "ran"
    path = broken / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _RunsACommand(marker)}, protocol=2))
    with pytest.raises(ConfigError) as info:
        load_splits(cifar(broken))
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "not a CIFAR batch file" in message
    assert "system, which is refused" in message
    assert not marker.exists()


def test_wrong_row_length_is_named(broken: Path) -> None:
    # Rule: rows must be 3072 bytes; another length is a ConfigError naming the file.
    path = broken / "test_batch"
    batch = read_trusted(path)
    batch[b"data"] = batch[b"data"][:, :3000]
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ConfigError, match=rf"^{path}: expected 'data': uint8 rows of 3072"):
        load_splits(cifar(broken))


def test_label_count_mismatch_is_named(broken: Path) -> None:
    # Rule: one label per row, or a ConfigError naming the file.
    path = broken / "data_batch_4"
    batch = read_trusted(path)
    batch[b"labels"] = batch[b"labels"][:-1]
    path.write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(ConfigError, match=rf"^{path}: expected 'labels': one label per row"):
        load_splits(cifar(broken))


def test_python3_pickles_load_too(broken: Path) -> None:
    # Rule: batches re-pickled by Python 3 (str keys, protocol 5) read the same.
    path = broken / "data_batch_1"
    batch = {k.decode(): v for k, v in read_trusted(path).items()}
    path.write_bytes(pickle.dumps(batch, protocol=5))
    assert len(load_splits(cifar(broken)).val_y) == 120


@pytest.mark.parametrize(
    ("name", "cls", "classes"), [("cifar10", "CIFAR10", 10), ("cifar100", "CIFAR100", 100)]
)
def test_download_true_asks_torchvision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, cls: str, classes: int
) -> None:
    # Rule: download: true fetches a missing set with torchvision into root, then reads it.
    calls: list = []

    def fake(root: str, train: bool = True, download: bool = False) -> None:
        calls.append((root, download))
        write_cifar(root, num_classes=classes, n_train=1000, n_test=100)

    monkeypatch.setattr(torchvision.datasets, cls, fake)
    s = load_splits(cifar(tmp_path, name, download=True))
    assert calls == [(str(tmp_path), True)] and len(s.test_y) == 100


def test_write_cifar100_meta_and_coarse_labels(cifar100_root: Path) -> None:
    # Rule: the fake CIFAR-100 has 100 fine and 20 coarse names, coarse = fine // 5.
    train = read_trusted(cifar100_root / "train")
    meta = read_trusted(cifar100_root / "meta")
    assert np.array_equal(np.array(train[b"coarse_labels"]), np.array(train[b"fine_labels"]) // 5)
    assert len(meta[b"fine_label_names"]) == 100 and len(meta[b"coarse_label_names"]) == 20
