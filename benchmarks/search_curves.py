"""TPE against random search at equal cost: best-so-far curves on fresh seeds.

Runs a study file once per (sampler, study seed), sharing one teacher. After every trial the
study's best-so-far trial is the recipe a user would export at that point; its recipe (with
the study's final training) is re-trained on fresh seeds and measured on the test split. The
cost axis is full-training equivalents: every student-epoch the study spent so far (pruned
trials up to where they stopped) in trainings at the final budget. Prints, per sampler, the
fresh-seed test mean of the best-so-far recipe at common costs (median over study seeds), and
the per-seed difference TPE - random at the end.

    python benchmarks/search_curves.py [STUDY.yaml] [--seeds 0,1,2] [--samplers tpe,random]
        [--n-trials N] [--fresh-seeds 10,11,12] [--device cpu]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import sys
import tempfile
import time

import optuna
from optuna.trial import TrialState
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autokd.config import StudyConfig  # noqa: E402
from autokd.data import load_splits  # noqa: E402
from autokd.engine import TeacherCache  # noqa: E402
from autokd.engine import train_recipe  # noqa: E402
from autokd.exceptions import TrialSetupError  # noqa: E402
from autokd.report._export import export_trial  # noqa: E402
from autokd.study import ensure_teacher  # noqa: E402
from autokd.study import run_study  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def variant(source: Path, folder: Path, sampler: str, seed: int, n: int | None, ckpt: str) -> Path:
    """The study file for one (sampler, seed): same space, data, pruner and teacher."""
    data = yaml.safe_load(source.read_text())
    data["search_space"] = str((source.parent / data["search_space"]).resolve())
    root = data["data"].get("root")
    if root is not None and not Path(root).is_absolute():
        data["data"]["root"] = str((source.parent / root).resolve())
    name = f"{sampler}_{seed}"
    params = data["study"]["sampler"].get("params", {}) if sampler == "tpe" else {}
    data["study"].update(name=name, output_dir=str(folder / name))
    data["study"]["sampler"] = {"name": sampler, "seed": seed, "params": params}
    data["study"].pop("storage", None)
    data.pop("final_eval", None)  # the curve follows the study's own best trial
    if n is not None:
        data["study"]["n_trials"] = n
    data["teacher"]["checkpoint"] = ckpt
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def curve(config: StudyConfig, study: optuna.Study, fresh: list[int], device: str, cache):
    """[(cost in full trainings, fresh-seed test mean of the best-so-far recipe)] per trial."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    scores: dict[int, float] = {}
    points, epochs, best = [], 0, None
    final = None
    for trial in trials:
        epochs += len(trial.intermediate_values)
        if trial.state == TrialState.COMPLETE and (best is None or trial.value > best.value):
            best = trial
        if best is None:
            continue
        if best.number not in scores:
            recipe = export_trial(config, study, best)
            final = final or recipe
            tests = []
            for seed in fresh:
                try:
                    run = recipe.with_overrides(seed=seed)
                    result = train_recipe(
                        run, device=device, evaluate_test=True, teacher_cache=cache
                    )
                    tests.append(result.test_acc)
                except TrialSetupError:
                    tests.append(0.0)
            scores[best.number] = statistics.fmean(tests)
        points.append((epochs, scores[best.number]))
    n_search = len(load_splits(config.data).train_y)
    n_final = len(load_splits(final.data).train_y)
    per_training = final.optim.epochs * n_final / n_search
    return [(e / per_training, s) for e, s in points]


def at_cost(points: list[tuple[float, float]], cost: float) -> float | None:
    """The best-so-far score once the study had spent ``cost`` (None before its first)."""
    seen = [s for c, s in points if c <= cost + 1e-9]
    return seen[-1] if seen else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", default=str(REPO / "studies/digits.yaml"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--samplers", default="tpe,random")
    parser.add_argument("--n-trials", type=int, default=None)
    parser.add_argument("--fresh-seeds", default="10,11,12")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seeds = [int(s) for s in args.seeds.split(",")]
    fresh = [int(s) for s in args.fresh_seeds.split(",")]
    samplers = args.samplers.split(",")
    source = Path(args.study).resolve()
    start = time.perf_counter()
    curves: dict[tuple[str, int], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = StudyConfig.from_yaml(source)
        base = base.model_copy(
            update={"study": base.study.model_copy(update={"output_dir": str(folder / "t")})}
        )
        ckpt = ensure_teacher(base, device=args.device).checkpoint
        cache = TeacherCache(memory_mb=2048)
        for sampler in samplers:
            for seed in seeds:
                config = StudyConfig.from_yaml(
                    variant(source, folder, sampler, seed, args.n_trials, ckpt)
                )
                t0 = time.perf_counter()
                study = run_study(config, progress=False)
                curves[(sampler, seed)] = curve(config, study, fresh, args.device, cache)
                last = curves[(sampler, seed)][-1]
                print(
                    f"{sampler} seed {seed}: {len(study.trials)} trials, cost {last[0]:.1f} "
                    f"full trainings, best-so-far fresh test {last[1]:.4f} "
                    f"({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
    top = min(c[-1][0] for c in curves.values())
    grid = sorted({round(top * f, 1) for f in (0.1, 0.2, 0.3, 0.5, 0.75, 1.0)})
    print(
        f"\n{source.name}: fresh-seed ({','.join(map(str, fresh))}) test mean of the "
        f"best-so-far recipe against cost (full trainings), median over study seeds {seeds}"
    )
    print("  cost  " + "  ".join(f"{s:>18s}" for s in samplers))
    for cost in grid:
        cells = []
        for sampler in samplers:
            values = [at_cost(curves[(sampler, s)], cost) for s in seeds]
            shown = [f"{v:.4f}" if v is not None else "  -   " for v in values]
            known = [v for v in values if v is not None]
            med = f"{statistics.median(known):.4f}" if len(known) == len(values) else "  -   "
            cells.append(f"{med} ({' '.join(shown)})")
        print(f"  {cost:4.1f}  " + "  ".join(cells))
    if {"tpe", "random"} <= set(samplers):
        diffs = [
            at_cost(curves[("tpe", s)], top) - at_cost(curves[("random", s)], top) for s in seeds
        ]
        print(
            f"  TPE - random at cost {top:.1f}: per seed {' '.join(f'{d:+.4f}' for d in diffs)}, "
            f"median {statistics.median(diffs):+.4f}"
        )
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
