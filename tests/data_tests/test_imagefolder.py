"""ImageFolder: both layouts, in memory and streamed, resizing, grey/RGB, and bad folders."""

from __future__ import annotations

from pathlib import Path
import pickle
import shutil

import numpy as np
from PIL import Image
import pytest
import torch
from torchvision.io import write_png

from autokd.data import ImageSource
from autokd.data import _imagefolder
from autokd.data import load_splits
from autokd.exceptions import ConfigError
from autokd.exceptions import MissingFileError
from autokd.recipe import DataSpec
from autokd.testing.fake_data import write_imagefolder

CLASSES = ("ant", "bee", "cat")


def folder(root: Path, **fields: object) -> DataSpec:
    return DataSpec(name="imagefolder", root=str(root), **fields)  # type: ignore[arg-type]


@pytest.fixture
def copy(tmp_path: Path, folder_root: Path) -> Path:
    """A writable copy of the train/test fixture."""
    return Path(shutil.copytree(folder_root, tmp_path / "set"))


def test_train_test_layout(folder_root: Path) -> None:
    # Rule: test/ is the test part; validation is carved from train/ (20%, rounded up).
    s = load_splits(folder(folder_root))
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (28, 8, 36)
    assert s.classes == CLASSES and s.num_classes == 3 and s.in_memory
    assert torch.bincount(s.test_y).tolist() == [12, 12, 12]


def test_pixels_match_the_png_files(folder_root: Path) -> None:
    # Rule: test images keep file order (class, then name) and the exact decoded pixels.
    s = load_splits(folder(folder_root))
    for index, path in [(0, "test/ant/img_0000.png"), (13, "test/bee/img_0001.png")]:
        with Image.open(folder_root / path) as image:
            expected = torch.from_numpy(np.array(image)).permute(2, 0, 1)  # (3, H, W)
        assert torch.equal(s.test_x[index], expected)


def test_flat_layout_carves_the_test_part(tmp_path: Path) -> None:
    # Rule: root/<class>/ without train/: the test part is test_fraction of everything.
    root = write_imagefolder(tmp_path, classes=CLASSES, per_class=20, size=8, splits=())
    s = load_splits(folder(root, test_fraction=0.25, val_fraction=0.2))
    assert len(s.test_y) == 15 and len(s.val_y) == 9 and len(s.train_y) == 36
    assert torch.bincount(s.test_y).tolist() == [5, 5, 5]


def test_val_folder_is_the_test_part_without_test(tmp_path: Path) -> None:
    # Rule: train/ + val/ (no test/): val/ holds the test images.
    root = write_imagefolder(
        tmp_path, classes=CLASSES, per_class=10, size=8, splits=("train", "val")
    )
    s = load_splits(folder(root))
    assert len(s.test_y) == 30 and len(s.train_y) + len(s.val_y) == 30


def test_streamed_matches_in_memory(folder_root: Path) -> None:
    # Rule: in_memory: false gives ImageSources with the same images, labels and statistics.
    mem = load_splits(folder(folder_root, in_memory=True))
    lazy = load_splits(folder(folder_root, in_memory=False))
    assert isinstance(lazy.train_x, ImageSource) and not lazy.in_memory
    assert len(lazy.val_x) == len(mem.val_y) and lazy.val_x.shape == (3, 10, 10)
    assert torch.equal(lazy.val_x[3], mem.val_x[3]) and torch.equal(lazy.test_y, mem.test_y)
    assert torch.equal(lazy.first(2), mem.first(2))
    # Fewer than 2,000 train images: the sample is all of them, so the stats are exact.
    assert lazy.mean == pytest.approx(mem.mean) and lazy.std == pytest.approx(mem.std)


def test_streamed_source_survives_pickling(folder_root: Path) -> None:
    # Rule: an ImageSource pickles (DataLoader workers get a copy) and reads the same images.
    lazy = load_splits(folder(folder_root, in_memory=False))
    clone = pickle.loads(pickle.dumps(lazy.test_x))
    assert torch.equal(clone[5], lazy.test_x[5]) and clone[5].dtype == torch.uint8


def test_large_sets_are_streamed_automatically(
    folder_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rule: with in_memory: null a set above IN_MEMORY_LIMIT bytes is streamed.
    monkeypatch.setattr(_imagefolder, "IN_MEMORY_LIMIT", 72 * 300 - 1)  # 72 images of 300 B
    assert not load_splits(folder(folder_root)).in_memory
    monkeypatch.setattr(_imagefolder, "IN_MEMORY_LIMIT", 72 * 300)
    assert load_splits(folder(folder_root, split_seed=1)).in_memory


def test_image_size_resizes(folder_root: Path) -> None:
    # Rule: image_size resizes every image to a square, in memory and streamed.
    assert load_splits(folder(folder_root, image_size=6)).image_shape == (3, 6, 6)
    lazy = load_splits(folder(folder_root, image_size=16, in_memory=False))
    assert lazy.train_x[0].shape == (3, 16, 16)


def test_mixed_sizes_need_image_size(copy: Path) -> None:
    # Rule: images of another size are an error naming the file and data.image_size.
    odd = copy / "train" / "bee" / "odd.png"
    write_png(torch.zeros(3, 7, 9, dtype=torch.uint8), str(odd))
    with pytest.raises(ConfigError, match=rf"^data\.image_size: .*7x9 in {odd}"):
        load_splits(folder(copy))
    assert load_splits(folder(copy, image_size=10)).image_shape == (3, 10, 10)


def test_rgb_files_read_as_grey(folder_root: Path) -> None:
    # Rule: params.channels 1 converts RGB files to one grey channel.
    s = load_splits(folder(folder_root, params={"channels": 1}))
    assert s.image_shape == (1, 10, 10) and len(s.mean) == 1


def test_grey_files_read_as_rgb(tmp_path: Path) -> None:
    # Rule: grey files with channels 3 (the default) repeat the grey value in R, G and B.
    root = write_imagefolder(tmp_path, classes=CLASSES, per_class=5, size=8, channels=1)
    s = load_splits(folder(root, val_fraction=0.4))
    assert s.image_shape == (3, 8, 8)
    red = s.test_x[:, 0]
    assert torch.equal(red, s.test_x[:, 1]) and torch.equal(red, s.test_x[:, 2])


def test_other_files_are_ignored(copy: Path) -> None:
    # Rule: only image suffixes count; notes and hidden folders are skipped.
    (copy / "train" / "ant" / "README.txt").write_text("not an image")
    (copy / "train" / ".cache").mkdir()
    assert len(load_splits(folder(copy)).test_y) == 36


def test_missing_root_is_named(tmp_path: Path) -> None:
    # Rule: a root that is not a folder raises MissingFileError naming it.
    with pytest.raises(MissingFileError, match=str(tmp_path / "none")):
        load_splits(folder(tmp_path / "none"))


def test_no_class_folders_is_named(tmp_path: Path) -> None:
    # Rule: an empty root raises one line naming it and the expected layout.
    with pytest.raises(MissingFileError, match=rf"{tmp_path} holds no class folders"):
        load_splits(folder(tmp_path))


def test_empty_class_folder_is_named(copy: Path) -> None:
    # Rule: a class folder without images is named.
    for image in (copy / "train" / "cat").iterdir():
        image.unlink()
    with pytest.raises(MissingFileError, match=rf"{copy / 'train' / 'cat'} holds no images"):
        load_splits(folder(copy))


def test_class_missing_from_test_is_named(copy: Path) -> None:
    # Rule: every train class needs a test folder.
    shutil.rmtree(copy / "test" / "bee")
    with pytest.raises(MissingFileError, match=rf"{copy / 'test' / 'bee'} is missing"):
        load_splits(folder(copy))


def test_extra_test_class_is_named(copy: Path) -> None:
    # Rule: a test class that train lacks has no label: a ConfigError naming it.
    shutil.copytree(copy / "test" / "ant", copy / "test" / "dog")
    with pytest.raises(ConfigError, match=r"'dog'"):
        load_splits(folder(copy))


def test_undecodable_file_is_named(copy: Path) -> None:
    # Rule: a file that does not decode is a ConfigError naming it.
    bad = copy / "test" / "cat" / "img_0003.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ConfigError, match=rf"^{bad}: expected an image file that can be decoded"):
        load_splits(folder(copy))


def test_undecodable_file_is_named_when_streamed(copy: Path) -> None:
    # Rule: a streamed set reports a bad file when it is read.
    bad = copy / "test" / "ant" / "img_0000.png"
    bad.write_bytes(b"\x89PNG broken")
    s = load_splits(folder(copy, in_memory=False))
    with pytest.raises(ConfigError, match=str(bad)):
        s.test_x[0]


def test_unknown_param_is_named(folder_root: Path) -> None:
    # Rule: imagefolder accepts only params.channels.
    fields = {**folder(folder_root).model_dump(), "params": {"size": 3}}
    with pytest.raises(ConfigError, match=r"^data\.params\.size: expected one of the keys"):
        load_splits(DataSpec.model_construct(**fields))


def test_bmp_files_are_read(tmp_path: Path) -> None:
    # Rule: BMP (which torchvision cannot decode) is read through Pillow.
    for c, name in enumerate(CLASSES):
        for i in range(5):
            (tmp_path / name).mkdir(exist_ok=True)
            pixels = np.full((4, 4, 3), 40 * c + i, dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.bmp")
    s = load_splits(folder(tmp_path, test_fraction=0.4, val_fraction=0.34))
    assert s.image_shape == (3, 4, 4) and sum(map(len, (s.train_y, s.val_y, s.test_y))) == 15
