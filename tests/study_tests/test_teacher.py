from __future__ import annotations

from pathlib import Path

import torch

from autokd.config import StudyConfig
from autokd.engine import evaluate_accuracy
from autokd.models import build_model
from autokd.models import file_sha256
from autokd.recipe import ModelSpec
from autokd.study import ensure_teacher
from autokd.study._teacher import teacher_cache_key


def test_given_checkpoint_is_loaded_hashed_and_evaluated(tiny_study: Path) -> None:
    # A teacher named by path is not retrained: its file hash goes into the recipe and its
    # accuracy is measured on the study's own split.
    torch.manual_seed(0)
    model = build_model(ModelSpec(width=1.0), in_channels=1, num_classes=10)
    ckpt = tiny_study.parent / "mine.pt"
    torch.save(model.state_dict(), ckpt)
    tiny_study.write_text(
        tiny_study.read_text().replace("teacher:\n", "teacher:\n  checkpoint: mine.pt\n")
    )
    config = StudyConfig.from_yaml(tiny_study)
    spec = ensure_teacher(config)
    assert spec.checkpoint == str(ckpt.resolve()) and spec.sha256 == file_sha256(ckpt)
    from autokd.data import load_splits

    splits = load_splits(config.data)
    assert spec.val_acc == evaluate_accuracy(model.eval(), splits, "val")
    assert not (config.output_dir / "teachers").exists()  # nothing trained or cached


def test_cache_key_follows_teacher_config_split_and_seed(tiny_study: Path) -> None:
    base = StudyConfig.from_yaml(tiny_study)
    key = teacher_cache_key(base)
    text = tiny_study.read_text()
    for old, new in (
        ("width: 1.0, depth: 1", "width: 1.0, depth: 2"),
        ("epochs: 4", "epochs: 5"),
        ("data: {name: digits}", "data: {name: digits, split_seed: 1}"),
        ("teacher:\n", "teacher:\n  seed: 3\n"),
    ):
        tiny_study.write_text(text.replace(old, new, 1))
        assert teacher_cache_key(StudyConfig.from_yaml(tiny_study)) != key, new
    tiny_study.write_text(text)
    assert teacher_cache_key(StudyConfig.from_yaml(tiny_study)) == key
