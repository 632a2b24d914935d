"""How long one digits trial takes on this machine, and what distillation adds.

Trains the same student side by side as: no distillation, KD, KD + attention transfer,
KD + FitNets; prints seconds per run, images per second and the ratio to the baseline.

    python benchmarks/trial_cost.py [--device cpu|cuda] [--epochs 12] [--repeats 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import sys
import tempfile

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autokd.config import StudyConfig  # noqa: E402
from autokd.engine import train_recipe  # noqa: E402
from autokd.recipe import Recipe  # noqa: E402
from autokd.study import ensure_teacher  # noqa: E402

VARIANTS = {
    "no distillation": {"alpha": 0.0, "terms": {}},
    "kd": {"alpha": 0.9, "temperature": 4.0, "terms": {"kd": {}}},
    "kd + at": {
        "alpha": 0.9,
        "temperature": 4.0,
        "terms": {"kd": {}, "at": {"weight": 100.0, "pair": "stages.1 -> stages.1"}},
    },
    "kd + fitnets": {
        "alpha": 0.9,
        "temperature": 4.0,
        "terms": {"kd": {}, "fitnets": {"weight": 1.0, "pair": "stages.1 -> stages.1"}},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        data = yaml.safe_load((repo / "studies/digits.yaml").read_text())
        data["search_space"] = str((repo / "studies" / data["search_space"]).resolve())
        data["study"]["output_dir"] = str(Path(tmp) / "run")
        study = Path(tmp) / "study.yaml"
        study.write_text(yaml.safe_dump(data))
        config = StudyConfig.from_yaml(study)
        teacher = ensure_teacher(config, device=args.device)
        base = None
        n_train = None
        print(f"device={args.device} epochs={args.epochs} repeats={args.repeats}")
        for name, distill in VARIANTS.items():
            recipe = Recipe.from_dict(
                {
                    "teacher": teacher.model_dump(mode="json"),
                    "student": {"family": "cnn", "width": 0.5, "depth": 1},
                    "optim": {"lr": 0.05, "epochs": args.epochs, "batch_size": 64},
                    "distill": distill,
                }
            )
            times = []
            for seed in range(args.repeats):
                result = train_recipe(recipe.with_overrides(seed=seed), device=args.device)
                times.append(result.seconds)
            if n_train is None:
                from autokd.data import load_splits

                n_train = len(load_splits(recipe.data).train_y)
            median = statistics.median(times)
            base = base or median
            print(
                f"{name:18s} {median:6.2f} s/run  {n_train * args.epochs / median:8.0f} img/s"
                f"  x{median / base:.2f} vs no distillation  (val_acc {result.val_acc:.4f})"
            )


if __name__ == "__main__":
    main()
