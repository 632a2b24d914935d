"""Which study value predicts a recipe's accuracy on fresh seeds best?

Draws N recipes at random from a study's search space, trains each once with the study's
training seed (as a trial would, unpruned) and records its learning curve, then re-trains it
on fresh seeds and measures the test split. For each candidate objective computed from the
trial's curve (final val_acc, mean val_acc of the last k epochs, minus the validation NLL,
val_acc with an NLL tie-break) it prints Spearman's rho against the fresh-seed mean test
accuracy with a 95% bootstrap interval over recipes, the paired bootstrap difference to
final val_acc, and the regret of the recipe each objective ranks first.

    python benchmarks/objective_fidelity.py [STUDY.yaml] [--recipes 24] [--seeds 1,2,3]
        [--k 3] [--sampler-seed 0] [--device cpu]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import tempfile
import time

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autokd.benchmark._fidelity import OBJECTIVES  # noqa: E402
from autokd.benchmark._fidelity import candidate_objectives  # noqa: E402
from autokd.benchmark._fidelity import rank_agreement  # noqa: E402
from autokd.config import StudyConfig  # noqa: E402
from autokd.data import load_splits  # noqa: E402
from autokd.engine import TeacherCache  # noqa: E402
from autokd.engine import train_recipe  # noqa: E402
from autokd.exceptions import TrialSetupError  # noqa: E402
from autokd.study import check_study  # noqa: E402
from autokd.study import ensure_teacher  # noqa: E402
from autokd.study import recipe_from_trial  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", default=str(REPO / "studies/digits.yaml"))
    parser.add_argument("--recipes", type=int, default=24)
    parser.add_argument("--seeds", default="1,2,3", help="fresh training seeds")
    parser.add_argument("--k", type=int, default=3, help="epochs averaged by val_acc_last_k")
    parser.add_argument("--sampler-seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        config = StudyConfig.from_yaml(args.study)
        study_section = config.study.model_copy(update={"output_dir": tmp})
        config = config.model_copy(update={"study": study_section})
        space = check_study(config)
        teacher = ensure_teacher(config, device=args.device)
        data = config.data.model_copy(update={"split_hash": load_splits(config.data).split_hash})
        n_val = len(load_splits(config.data).val_y)
        cache = TeacherCache(memory_mb=2048)
        sampler = optuna.samplers.RandomSampler(seed=args.sampler_seed)
        draw = optuna.create_study(sampler=sampler, direction="maximize")
        rows = []
        while len(rows) < args.recipes:
            trial = draw.ask()
            recipe = recipe_from_trial(space, trial, data=data, teacher=teacher)
            try:
                searched = train_recipe(recipe, device=args.device, teacher_cache=cache)
                tests = [
                    train_recipe(
                        recipe.with_overrides(seed=s),
                        device=args.device,
                        evaluate_test=True,
                        teacher_cache=cache,
                    ).test_acc
                    for s in seeds
                ]
            except TrialSetupError as exc:
                print(f"recipe {trial.number}: failed ({exc}); drawn again")
                draw.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            draw.tell(trial, searched.val_acc)
            objectives = candidate_objectives(searched.history, k=args.k)
            rows.append((objectives, float(np.mean(tests))))
            print(
                f"recipe {len(rows):2d}: val_acc {objectives['val_acc']:.4f} "
                f"nll {-objectives['neg_val_nll']:.4f} fresh test {np.mean(tests):.4f}",
                flush=True,
            )
    fresh = [f for _, f in rows]
    print(
        f"\n{args.study}: {len(rows)} random recipes, each trained once with the space's seed, "
        f"fresh seeds {seeds}, {n_val} validation images ({time.perf_counter() - start:.0f} s)"
    )
    base = [o["val_acc"] for o, _ in rows]
    for name in OBJECTIVES:
        scores = [o[name] for o, _ in rows]
        agree = rank_agreement(scores, fresh)
        gain = _paired_boot(scores, base, fresh)
        print(
            f"  {name:22s} rho {agree.rho:+.3f} [{agree.low:+.3f}, {agree.high:+.3f}]  "
            f"vs val_acc {gain[0]:+.3f} [{gain[1]:+.3f}, {gain[2]:+.3f}]  "
            f"regret {agree.regret:.4f}"
        )


def _paired_boot(a: list[float], b: list[float], fresh: list[float], n_boot: int = 2000):
    """rho(a) - rho(b) on the same bootstrap resamples of recipes: mean and 95% interval."""
    from scipy import stats

    x, y, f = (np.asarray(v, dtype=float) for v in (a, b, fresh))
    rng = np.random.default_rng(1)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(f), len(f))
        ra = stats.spearmanr(x[idx], f[idx]).statistic
        rb = stats.spearmanr(y[idx], f[idx]).statistic
        if np.isfinite(ra) and np.isfinite(rb):
            diffs.append(ra - rb)
    point = stats.spearmanr(x, f).statistic - stats.spearmanr(y, f).statistic
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(point), float(low), float(high)


if __name__ == "__main__":
    main()
