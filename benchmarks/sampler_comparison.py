"""TPE against random search on the digits study, at an equal number of trials.

Runs `studies/digits.yaml` (its space, pruner and trial budget) once per (sampler, study
seed), with the teacher trained once and shared, and prints each study's best validation
accuracy, the median over the study seeds per sampler, and the per-seed difference. The
sampler seed is the study seed; the data split and every trial's training seed stay fixed, so
the samplers differ only in which recipes they try.

    python benchmarks/sampler_comparison.py [--seeds 0,1,2] [--n-trials 40]
        [--samplers tpe,random] [--device cpu] [--tpe-params YAML] [--pruner YAML]
        [--space YAML] [--data YAML]

`--tpe-params '{multivariate: true}'` replaces the TPE parameters of the study file;
`--pruner '{name: nop}'` replaces its pruner; `--space '{optim: {epochs: 4}}'` is merged over
the search space and `--data '{val_fraction: 0.4}'` over the data section (all YAML).
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import sys
import tempfile
import time

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autokd.config import StudyConfig  # noqa: E402
from autokd.study import ensure_teacher  # noqa: E402
from autokd.study import run_study  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def study_file(
    folder: Path,
    name: str,
    sampler: str,
    seed: int,
    n_trials: int,
    ckpt: str,
    tpe_params: dict | None = None,
    pruner: dict | None = None,
    space: dict | None = None,
    data_overrides: dict | None = None,
) -> Path:
    """The digits study file for one (sampler, seed), written into ``folder``.

    ``space`` is deep-merged over the study's search space (through ``extends:``), and
    ``data_overrides`` over the study's ``data`` section; its final_eval is left out.
    """
    data = yaml.safe_load((REPO / "studies/digits.yaml").read_text())
    base_space = str((REPO / "studies" / data["search_space"]).resolve())
    data["search_space"] = base_space
    data.pop("final_eval", None)  # the samplers and pruners are compared on the search alone
    if space:
        extended = folder / f"{name}_space.yaml"
        extended.write_text(yaml.safe_dump({"extends": base_space, **space}))
        data["search_space"] = str(extended)
    data["data"].update(data_overrides or {})
    data["study"].update(name=name, n_trials=n_trials, output_dir=str(folder / name))
    if pruner is not None:
        data["study"]["pruner"] = pruner
    params = data["study"]["sampler"]["params"] if sampler == "tpe" else {}
    if sampler == "tpe" and tpe_params is not None:
        params = tpe_params
    data["study"]["sampler"] = {"name": sampler, "seed": seed, "params": params}
    if ckpt:
        data["teacher"]["checkpoint"] = ckpt
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--n-trials", type=int, default=40)
    parser.add_argument("--samplers", default="tpe,random")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tpe-params", type=yaml.safe_load, default=None)
    parser.add_argument("--pruner", type=yaml.safe_load, default=None)
    parser.add_argument(
        "--space", type=yaml.safe_load, default=None, help="YAML merged over the space"
    )
    parser.add_argument(
        "--data", type=yaml.safe_load, default=None, help="YAML merged over the data section"
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    samplers = args.samplers.split(",")
    best: dict[str, list[float]] = {s: [] for s in samplers}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first = StudyConfig.from_yaml(
            study_file(folder, "teacher", "tpe", 0, 1, "", data_overrides=args.data)
        )
        teacher = ensure_teacher(first, device=args.device)
        print(f"teacher: val {teacher.val_acc:.4f}; {args.n_trials} trials per study")
        print(
            f"TPE params: {args.tpe_params or 'as in the study file'}; pruner: "
            f"{args.pruner or 'as in the study file'}; space changes: {args.space}; "
            f"data changes: {args.data}"
        )
        for seed in seeds:
            for sampler in samplers:
                name = f"{sampler}_{seed}"
                path = study_file(
                    folder,
                    name,
                    sampler,
                    seed,
                    args.n_trials,
                    teacher.checkpoint,
                    args.tpe_params,
                    args.pruner,
                    args.space,
                    args.data,
                )
                start = time.perf_counter()
                study = run_study(StudyConfig.from_yaml(path), device=args.device, progress=False)
                best[sampler].append(study.best_value)
                print(
                    f"  seed {seed} {sampler:8s} best val_acc {study.best_value:.4f} "
                    f"(trial {study.best_trial.number}, {time.perf_counter() - start:.0f} s)"
                )
    for sampler in samplers:
        values = " ".join(f"{v:.4f}" for v in best[sampler])
        print(
            f"{sampler:8s} median best val_acc {statistics.median(best[sampler]):.4f}  ({values})"
        )
    if len(samplers) == 2:
        a, b = samplers
        diffs = [x - y for x, y in zip(best[a], best[b], strict=True)]
        wins = sum(d > 0 for d in diffs)
        print(
            f"{a} - {b}: median {statistics.median(diffs):+.4f} per seed "
            f"({wins}/{len(diffs)} seeds won, {sum(d == 0 for d in diffs)} tied)"
        )


if __name__ == "__main__":
    main()
