"""The CIFAR-shaped pipeline end to end: a resnet32x4 -> resnet8x4 KD trial on synthetic
CIFAR-100 files in the official pickle format, timed per epoch.

Writes the files, loads them through the cifar100 dataset (uint8 on the device, batched
crop + flip seeded per epoch), then trains with the CIFAR benchmark's batch size and optimiser
(SGD lr 0.05, momentum 0.9, weight decay 5e-4, batch 64) and prints, for the distilled trial and
for the same student alone: seconds per epoch and training images per second, after a warm-up
epoch. The teacher is randomly initialised (its weights do not change the cost) and is run live
at every step.

    python benchmarks/cifar_pipeline.py [--device auto] [--n-train N] [--epochs 3]
        [--batch-size 64] [--teacher resnet32x4] [--student resnet8x4]

Defaults: 50,000 training images on CUDA (the real set's size), 2,000 on CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path
import platform
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autokd.data import load_splits  # noqa: E402
from autokd.engine import resolve_device  # noqa: E402
from autokd.engine import train_recipe  # noqa: E402
from autokd.models import build_model  # noqa: E402
from autokd.models import model_info  # noqa: E402
from autokd.recipe import ModelSpec  # noqa: E402
from autokd.recipe import Recipe  # noqa: E402
from autokd.testing.fake_data import write_cifar  # noqa: E402


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)} (CUDA {torch.version.cuda})"
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores, " + (
        f"{torch.get_num_threads()} torch threads"
    )


def timed(recipe: Recipe, dev: torch.device) -> list[float]:
    """Seconds of each epoch (training + validation), from the engine's own per-epoch hook."""
    marks = [time.perf_counter()]

    def on_epoch(epoch: int, metrics: dict) -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        marks.append(time.perf_counter())

    train_recipe(recipe, device=dev, on_epoch=on_epoch)
    # The first interval also holds set-up (data to the device, model build): drop it.
    return [b - a for a, b in zip(marks[1:], marks[2:], strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs + 1 warm-up")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--teacher", default="resnet32x4")
    parser.add_argument("--student", default="resnet8x4")
    args = parser.parse_args()
    dev = resolve_device(args.device)
    n_train = args.n_train or (50_000 if dev.type == "cuda" else 2_000)
    epochs = max(args.epochs, 2)
    val_fraction = min(0.45, max(0.1, 150 / n_train))

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = write_cifar(tmp, num_classes=100, n_train=n_train, n_test=1_000)
        wrote = time.perf_counter() - start
        torch.manual_seed(0)
        teacher = build_model(ModelSpec(family=args.teacher), in_channels=3, num_classes=100)
        ckpt = Path(tmp) / "teacher.pt"
        torch.save(teacher.state_dict(), ckpt)
        recipe = Recipe.from_dict(
            {
                # 10% as in the studies; more for tiny sets, so each class has a val image.
                "data": {"name": "cifar100", "root": str(root), "val_fraction": val_fraction},
                "teacher": {
                    "model": {"family": args.teacher},
                    "checkpoint": str(ckpt),
                    "sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
                },
                "student": {"family": args.student},
                "optim": {
                    "optimizer": "sgd",
                    "lr": 0.05,
                    "momentum": 0.9,
                    "weight_decay": 5e-4,
                    "epochs": epochs,
                    "batch_size": args.batch_size,
                },
                "augment": {"crop": 4, "flip": True},
                "distill": {"temperature": 4.0, "alpha": 0.9, "terms": {"kd": {}}},
            }
        )
        start = time.perf_counter()
        splits = load_splits(recipe.data)
        loaded = time.perf_counter() - start
        n_fit = len(splits.train_y)
        t_macs = model_info(teacher, (3, 32, 32)).macs
        student = build_model(recipe.student, in_channels=3, num_classes=100)
        s_info = model_info(student, (3, 32, 32))

        print(f"device: {device_name(dev)}; torch {torch.__version__}")
        print(
            f"synthetic CIFAR-100: {n_train:,} train images written in {wrote:.1f} s, loaded "
            f"in {loaded:.1f} s; {n_fit:,} train / {len(splits.val_y):,} val after the split"
        )
        print(
            f"{args.teacher} -> {args.student}: teacher {t_macs / 1e6:.0f}M MACs/image, "
            f"student {s_info.macs / 1e6:.0f}M MACs/image, {s_info.params:,} params; "
            f"batch {args.batch_size}, {epochs - 1} timed epoch(s) after 1 warm-up"
        )
        for name, run in (
            ("KD, teacher live", recipe),
            ("student alone", recipe.without_distillation()),
        ):
            times = timed(run, dev)
            epoch_s = statistics.median(times)
            print(
                f"  {name:17s} {epoch_s:8.2f} s/epoch  {n_fit / epoch_s:9.0f} train img/s"
                f"  (at this rate, 240 epochs of CIFAR-100's 45,000: "
                f"{240 * 45_000 / (n_fit / epoch_s) / 60:.1f} min)"
            )


if __name__ == "__main__":
    main()
