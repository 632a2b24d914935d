"""What the pruner saves: the digits study with its pruner against the same study without one.

For each study seed, runs `studies/digits.yaml` (its space, TPE sampler and trial budget)
with one shared teacher: without a pruner (``nop``), and with each ``--pruner`` (by default
the study file's). The sampler seed is the study seed, so both start from the same recipes. Prints
the student-epochs trained (every epoch of every trial, pruned ones up to where they
stopped), the best validation accuracy and the wall time of each, and the ratios.

The search fidelity's learning-rate schedule is scaled to its own budget (the digits space
trains 12 epochs with a cosine schedule over those 12), so early epochs are comparable across
trials; a step decay placed for a longer final budget would make early accuracy misleading.

    python benchmarks/pruning_savings.py [--seeds 0,1,2] [--n-trials 40] [--device cpu]
        [--pruner '{name: successive_halving}' --pruner '{name: median}' ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import sys
import tempfile
import time

import optuna
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sampler_comparison import study_file  # noqa: E402

from autokd.config import StudyConfig  # noqa: E402
from autokd.study import ensure_teacher  # noqa: E402
from autokd.study import run_study  # noqa: E402


def student_epochs(study: optuna.Study) -> int:
    """Epochs trained by all trials: one per reported step (pruned trials stop early)."""
    return sum(len(t.intermediate_values) for t in study.trials)


def best_value(study: optuna.Study) -> float:
    """Best validation accuracy of the complete trials; NaN when the pruner stopped every trial."""
    values = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return max(values, default=float("nan"))


def _label(pruner: dict | None) -> str:
    if pruner is None:
        return "study file's pruner"
    params = ", ".join(f"{k}={v}" for k, v in (pruner.get("params") or {}).items())
    return f"{pruner['name']}({params})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--n-trials", type=int, default=40)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--pruner",
        type=yaml.safe_load,
        action="append",
        help="YAML pruner for a pruned arm; repeat to compare several against one unpruned "
        "study per seed (default: the study file's)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    pruners = args.pruner or [None]
    rows: dict[str, list[dict]] = {_label(p): [] for p in pruners}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first = StudyConfig.from_yaml(study_file(folder, "teacher", "tpe", 0, 1, ""))
        teacher = ensure_teacher(first, device=args.device)
        print(f"teacher: val {teacher.val_acc:.4f}; {args.n_trials} trials per study")
        for seed in seeds:
            arms = [("unpruned", {"name": "nop"})] + [(_label(p), p) for p in pruners]
            got = {}
            for i, (label, pruner) in enumerate(arms):
                name = f"arm{i}_{seed}"
                path = study_file(
                    folder, name, "tpe", seed, args.n_trials, teacher.checkpoint, pruner=pruner
                )
                start = time.perf_counter()
                study = run_study(StudyConfig.from_yaml(path), device=args.device, progress=False)
                got[label] = (
                    student_epochs(study),
                    best_value(study),
                    time.perf_counter() - start,
                )
                print(
                    f"  seed {seed} {label}: {got[label][0]} student-epochs, best val_acc "
                    f"{got[label][1]:.4f}, {got[label][2]:.0f} s",
                    flush=True,
                )
            for label in rows:
                rows[label].append(
                    {"seed": seed, "pruned": got[label], "unpruned": got["unpruned"]}
                )
    for label, arm in rows.items():
        print(f"\n{label}")
        print("seed  epochs pruned/unpruned  saving  best val pruned/unpruned  difference")
        for row in arm:
            (ep, bp, _), (eu, bu, _) = row["pruned"], row["unpruned"]
            print(
                f"{row['seed']:4d}  {ep:6d} / {eu:<8d}      x{eu / ep:4.2f}   {bp:.4f} / {bu:.4f}"
                f"        {bp - bu:+.4f}"
            )
        savings = [r["unpruned"][0] / r["pruned"][0] for r in arm]
        diffs = [r["pruned"][1] - r["unpruned"][1] for r in arm]
        times = [r["unpruned"][2] / r["pruned"][2] for r in arm]
        empty = sum(d != d for d in diffs)  # NaN: the pruner stopped every trial
        diffs = [d for d in diffs if d == d] or [float("nan")]
        print(
            f"median: x{statistics.median(savings):.2f} fewer student-epochs, x"
            f"{statistics.median(times):.2f} less wall time, best val_acc "
            f"{statistics.median(diffs):+.4f} (pruned - unpruned)"
            + (f"; {empty} pruned studies ended with no complete trial" if empty else "")
        )


if __name__ == "__main__":
    main()
