"""The study's teacher: load the named checkpoint, or train it once and cache it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from autokd.config import StudyConfig
from autokd.data import load_splits
from autokd.engine import train_recipe
from autokd.exceptions import ConfigError
from autokd.logging import get_logger
from autokd.models import file_sha256
from autokd.recipe import DistillSpec
from autokd.recipe import Recipe
from autokd.recipe import TeacherSpec
from autokd.study._check import check_output_dir

__all__ = ["ensure_teacher", "teacher_cache_key", "teacher_training_recipe"]

_logger = get_logger(__name__)


def teacher_training_recipe(config: StudyConfig) -> Recipe:
    """The plain (no distillation) recipe that trains the study's teacher."""
    t = config.teacher
    return Recipe(
        data=config.data,
        student=t.model,
        optim=t.optim,
        augment=t.augment,
        distill=DistillSpec(),
        seed=t.seed,
    )


def teacher_cache_key(config: StudyConfig) -> str:
    """Hash of (teacher config, data split, seed): a changed teacher never reuses a cache."""
    payload = {
        "teacher": config.teacher.model_dump(mode="json", exclude={"checkpoint"}),
        # Where the files live and how they are read does not change the split; an unset
        # train_fraction is left out so keys made before it existed stay valid.
        "data": config.data.model_dump(
            mode="json",
            exclude={"root", "download", "num_workers", "split_hash"}
            | ({"train_fraction"} if config.data.train_fraction is None else set()),
        ),
    }
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def ensure_teacher(config: StudyConfig, *, device: str | torch.device = "cpu") -> TeacherSpec:
    """Returns the study's teacher, training and caching it in the study folder if needed.

    A checkpoint named in the study file is loaded (``weights_only=True``) and evaluated once;
    otherwise ``teachers/<key>.pt`` in the study folder is reused, or trained from the teacher
    recipe and written there with its metrics in ``teachers/<key>.json``.
    """
    if config.checkpoint_path is not None:
        return _evaluated_checkpoint(config, config.checkpoint_path.resolve())
    check_output_dir(config.output_dir, file=config.file)  # before training, not after
    folder = config.output_dir / "teachers"
    key = teacher_cache_key(config)
    ckpt, meta_path = folder / f"{key}.pt", folder / f"{key}.json"
    if ckpt.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("sha256") == file_sha256(ckpt):
            _logger.info("teacher: reusing %s (val %.4f)", ckpt, meta["val_acc"])
            return _spec(config, ckpt.resolve(), meta)
    # Read the data first (cached for the training below): a missing dataset is then the one
    # line the user sees, not a "training" line followed by an error.
    load_splits(config.data)
    _logger.info("teacher: training %s (cache key %s)", config.teacher.model.family, key)
    result = train_recipe(teacher_training_recipe(config), device=device, evaluate_test=True)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in result.student.state_dict().items()}
    tmp = ckpt.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(ckpt)  # atomic: a crash never leaves a half-written teacher
    meta = {
        "sha256": file_sha256(ckpt),
        "val_acc": result.val_acc,
        "test_acc": result.test_acc,
        "seconds": round(result.seconds, 2),
        "config": config.teacher.model_dump(mode="json"),
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    _logger.info(
        "teacher: val %.4f test %.4f (%.1f s)", result.val_acc, result.test_acc, result.seconds
    )
    return _spec(config, ckpt.resolve(), meta)


def _evaluated_checkpoint(config: StudyConfig, path: Path) -> TeacherSpec:
    from autokd.engine import evaluate_accuracy
    from autokd.models import load_checkpoint

    splits = load_splits(config.data)
    try:
        model = load_checkpoint(
            config.teacher.model,
            path,
            in_channels=splits.in_channels,
            num_classes=splits.num_classes,
        )
    except ConfigError as exc:
        raise exc.in_file(config.file) from None
    accs = {
        "val_acc": evaluate_accuracy(model, splits, "val"),
        "test_acc": evaluate_accuracy(model, splits, "test"),
    }
    return _spec(config, path, {"sha256": file_sha256(path), **accs})


def _spec(config: StudyConfig, path: Path, meta: dict) -> TeacherSpec:
    return TeacherSpec(
        model=config.teacher.model,
        checkpoint=str(path),
        sha256=meta["sha256"],
        val_acc=meta.get("val_acc"),
        test_acc=meta.get("test_acc"),
    )
