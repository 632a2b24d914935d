"""``autokd benchmark``: the study's winner against no distillation and the literature.

Every recipe trains at the study's final budget (the training ``autokd export`` gives the
winner) on the same data, split, augmentation, student, optimiser, epochs and seeds; only the
distillation differs (and, with ``tune_lr``, each baseline's learning rate, picked on the
validation split). The test split is read once per (recipe, seed). Each finished training is
appended to ``runs.jsonl`` in the output folder, keyed by the recipe's SHA-256, so a rerun
(after Ctrl-C, a crash or with more seeds) trains only what is missing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path
import statistics
import time
from typing import Any

import optuna

from autokd.benchmark._baselines import baseline_recipe
from autokd.benchmark._baselines import check_baselines
from autokd.benchmark._baselines import title
from autokd.benchmark._stats import PairedDifference
from autokd.benchmark._stats import paired_difference
from autokd.config import StudyConfig
from autokd.data import load_splits
from autokd.engine import TeacherCache
from autokd.engine import resolve_device
from autokd.engine import train_recipe
from autokd.exceptions import AutokdError
from autokd.exceptions import ConfigError
from autokd.exceptions import TrialSetupError
from autokd.logging import get_logger
from autokd.recipe import Recipe
from autokd.report import export_best
from autokd.report import load_study
from autokd.space import SearchSpace
from autokd.study import study_teacher_cache

__all__ = [
    "WINNER",
    "BenchmarkEntry",
    "BenchmarkResult",
    "Ledger",
    "SearchCost",
    "lr_grid",
    "run_benchmark",
    "search_cost",
]

_logger = get_logger(__name__)

#: The row of the study's winner.
WINNER = "winner"
#: The study user attribute holding the last benchmark's summary (read by ``autokd report``).
BENCHMARK_ATTR = "benchmark"


@dataclasses.dataclass
class BenchmarkEntry:
    """One recipe of the benchmark and its per-seed results (in the benchmark's seed order)."""

    name: str
    title: str
    recipe: Recipe | None
    lr_note: str = ""
    vals: list[float] = dataclasses.field(default_factory=list)
    tests: list[float] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def lr(self) -> float | None:
        return None if self.recipe is None else self.recipe.optim.lr


@dataclasses.dataclass(frozen=True)
class SearchCost:
    """What the study spent to find its winner.

    Attributes:
        student_epochs: Epochs trained by every trial (pruned and failed ones up to where they
            stopped) and by final_eval's re-training.
        full_trainings: The same in trainings at the final budget: student image-epochs
            divided by (final epochs x final training images).
        trials: Trials in the study.
        wall_seconds: From the first trial's start to the last one's end, plus final_eval.
    """

    student_epochs: int
    full_trainings: float
    trials: int
    wall_seconds: float


@dataclasses.dataclass
class BenchmarkResult:
    """The benchmark's table: the winner first, then each baseline, with paired differences."""

    study: str
    seeds: list[int]
    entries: list[BenchmarkEntry]
    diffs: dict[str, PairedDifference]
    cost: SearchCost
    seconds: float
    out_dir: Path
    tune_lr: int
    files: list[Path] = dataclasses.field(default_factory=list)

    @property
    def winner(self) -> BenchmarkEntry:
        return self.entries[0]


class Ledger:
    """An append-only JSON-lines record of finished trainings, read back on a rerun.

    A line is written (and fsynced) only after its training ends, so an interrupted run
    loses at most the training in progress; a torn last line is ignored.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._records: dict[str, dict[str, Any]] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a crash: that training runs again
                if isinstance(record, dict) and "key" in record:
                    self._records[record["key"]] = record

    def get(self, key: str) -> dict[str, Any] | None:
        return self._records.get(key)

    def put(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._records[record["key"]] = record


def recipe_key(recipe: Recipe, phase: str) -> str:
    """SHA-256 of the recipe (seed included, provenance left out) and the phase."""
    data = recipe.to_dict()
    data.pop("provenance", None)
    blob = json.dumps({"recipe": data, "phase": phase}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def lr_grid(lr: float, k: int, space_range: tuple[float, float] | None) -> list[float]:
    """``k`` learning rates, evenly spaced in log scale.

    Over the study's searched range when it has one (``space_range``), else over
    ``[lr / 4, lr * 4]``; ``k = 1`` is ``[lr]``.
    """
    if k == 1:
        return [lr]
    low, high = space_range if space_range is not None else (lr / 4.0, lr * 4.0)
    step = (math.log(high) - math.log(low)) / (k - 1)
    return [float(f"{math.exp(math.log(low) + i * step):.6g}") for i in range(k)]


def run_benchmark(
    config: StudyConfig,
    *,
    seeds: list[int],
    baselines: list[str],
    tune_lr: int = 0,
    out_dir: Path | None = None,
    device: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
) -> BenchmarkResult:
    """Trains the winner and each baseline on every seed and compares them pairwise.

    Args:
        config: The study file; its study must hold a completed trial.
        seeds: At least 2 distinct seeds; each recipe trains once per seed.
        baselines: Names from :func:`~autokd.benchmark.baseline_names`.
        tune_lr: 0: every recipe keeps the winner's learning rate. K >= 2: each baseline
            first trains with K learning rates (see :func:`lr_grid`) on the first seed and
            keeps the one with the best validation accuracy.
        out_dir: Where the tables, plots, recipes and ``runs.jsonl`` go (default:
            ``<study folder>/benchmark``).
        device: Training device (default: the study file's).
        storage: The study's storage URL (default: as ``autokd run`` resolves it).
        tracking_uri: MLflow tracking URI (default: the one the study recorded).

    Returns:
        The :class:`BenchmarkResult`; its files are written and tracked.

    Raises:
        ConfigError: For bad seeds, baselines or ``tune_lr`` (before anything is trained).
        AutokdError: If the study has no completed trial or several objectives.
    """
    _check_seeds(seeds)
    baselines = check_baselines(baselines)
    if tune_lr == 1 or tune_lr < 0:
        raise ConfigError("--tune-lr", "0 (off) or a count K >= 2", str(tune_lr))
    start = time.perf_counter()
    study = load_study(config, storage)
    winner = export_best(config, storage=storage)  # the final_eval winner when there is one
    out = Path(out_dir) if out_dir is not None else config.output_dir / "benchmark"
    out.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(out / "runs.jsonl")
    dev = resolve_device(device or config.device)
    cache = study_teacher_cache(config) or TeacherCache(memory_mb=1024)
    options = config.engine.train_options()

    entries = [BenchmarkEntry(WINNER, _winner_title(winner), winner, lr_note="searched")]
    for name in baselines:
        try:
            entries.append(BenchmarkEntry(name, title(name), baseline_recipe(name, winner)))
        except ConfigError as exc:
            entries.append(BenchmarkEntry(name, title(name), None, error=str(exc)))
    runner = _Runner(ledger, dev, cache, options)
    if tune_lr:
        grid = lr_grid(winner.optim.lr, tune_lr, _space_lr_range(config))
        for entry in entries[1:]:
            runner.tune_lr(entry, grid, seeds[0])
    for seed in seeds:  # seed by seed: an interrupted benchmark leaves complete pairs
        for entry in entries:
            runner.test(entry, seed)
    if winner_failed := entries[0].error:
        raise AutokdError(f"{config.file}: the study's winner failed to train: {winner_failed}")
    diffs = {
        e.name: paired_difference(entries[0].tests, e.tests)
        for e in entries[1:]
        if e.error is None
    }
    result = BenchmarkResult(
        study=config.study.name,
        seeds=list(seeds),
        entries=entries,
        diffs=diffs,
        cost=search_cost(config, study, winner),
        seconds=time.perf_counter() - start,
        out_dir=out,
        tune_lr=tune_lr,
    )
    from autokd.benchmark._output import record_benchmark

    record_benchmark(result, config, study, tracking_uri=tracking_uri)
    return result


def _check_seeds(seeds: list[int]) -> None:
    if len(set(seeds)) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(
            "--seeds",
            "a count N >= 2 or at least two distinct seeds >= 0 (a paired interval needs 2)",
            ",".join(map(str, seeds)) or "nothing",
        )


def _winner_title(winner: Recipe) -> str:
    prov = winner.provenance
    if "final_eval" in prov:
        return f"found recipe (trial {prov.get('trial')}, final_eval winner)"
    return f"found recipe (trial {prov.get('trial')}, best trial)"


def _space_lr_range(config: StudyConfig) -> tuple[float, float] | None:
    dist = SearchSpace.from_yaml(config.space_path).distributions.get("optim.lr")
    if dist is None or getattr(dist, "kind", None) != "float":
        return None
    return float(dist.low), float(dist.high)


class _Runner:
    """Trains (or reads back from the ledger) one recipe at a time."""

    def __init__(self, ledger: Ledger, device: Any, cache: TeacherCache, options: dict) -> None:
        self.ledger, self.device, self.cache, self.options = ledger, device, cache, options

    def _train(self, recipe: Recipe, phase: str, label: str) -> dict[str, Any]:
        key = recipe_key(recipe, phase)
        done = self.ledger.get(key)
        if done is None and phase == "test":
            # The learning-rate search already trained this recipe on this seed (and measured
            # its test split, unseen by the choice): the same training, not trained twice.
            tuned = self.ledger.get(recipe_key(recipe, "lr"))
            done = tuned if tuned is not None and tuned.get("test_acc") is not None else None
        if done is not None:
            return done
        record: dict[str, Any] = {"key": key, "name": label, "seed": recipe.seed, "phase": phase}
        try:
            result = train_recipe(
                recipe,
                device=self.device,
                evaluate_test=True,  # the lr search's chosen run is reused as a test run
                teacher_cache=self.cache,
                **self.options,
            )
        except TrialSetupError as exc:
            record["error"] = str(exc)
            _logger.warning("benchmark: %s, seed %d failed: %s", label, recipe.seed, exc)
        else:
            record.update(
                val_acc=result.val_acc,
                test_acc=result.test_acc,
                seconds=round(result.seconds, 2),
                lr=recipe.optim.lr,
            )
            test = "" if result.test_acc is None else f"  test_acc {result.test_acc:.4f}"
            _logger.info(
                "benchmark: %s, seed %d, lr %.4g: val_acc %.4f%s (%.1f s)",
                label,
                recipe.seed,
                recipe.optim.lr,
                result.val_acc,
                test,
                result.seconds,
            )
        self.ledger.put(record)
        return record

    def tune_lr(self, entry: BenchmarkEntry, grid: list[float], seed: int) -> None:
        if entry.recipe is None:
            return
        scores = []
        for lr in grid:
            recipe = _with_lr(entry.recipe, lr).with_overrides(seed=seed)
            record = self._train(recipe, "lr", f"{entry.name} (lr search)")
            scores.append(
                (record.get("val_acc", -1.0), -abs(math.log(lr / entry.recipe.optim.lr)), lr)
            )
        best = max(scores)  # best val_acc; ties: the lr nearest the winner's
        entry.recipe = _with_lr(entry.recipe, best[2])
        shown = ", ".join(f"{lr:g}: {val:.4f}" for val, _, lr in scores)
        entry.lr_note = f"tuned over {len(grid)} values on seed {seed} (val_acc {shown})"

    def test(self, entry: BenchmarkEntry, seed: int) -> None:
        if entry.recipe is None or entry.error is not None:
            return
        record = self._train(entry.recipe.with_overrides(seed=seed), "test", entry.name)
        if "error" in record:
            entry.error = f"seed {seed}: {record['error']}"
            return
        entry.vals.append(record["val_acc"])
        entry.tests.append(record["test_acc"])
        entry.seconds += record["seconds"]


def _with_lr(recipe: Recipe, lr: float) -> Recipe:
    data = recipe.to_dict()
    data["optim"]["lr"] = lr
    return Recipe.from_dict(data, file="<benchmark lr>")


def search_cost(config: StudyConfig, study: optuna.Study, final: Recipe) -> SearchCost:
    """Student-epochs the study spent (trials and final_eval) and their full-training worth.

    An epoch of a trial counts when the trial reported its validation accuracy for it; a
    final_eval training counts the winner trial's epochs (every candidate trains the searched
    budget). Image-epochs are converted at the search's and the final training set sizes.
    """
    trials = study.get_trials(deepcopy=False)
    epochs = sum(len(t.intermediate_values) for t in trials)
    record = study.user_attrs.get("final_eval") or {}
    extra_seconds = float(record.get("seconds", 0.0))
    if record:
        by_number = {t.number: t for t in trials}
        per_run = len(by_number[record["winner"]].intermediate_values)
        runs = (len(record["candidates"]) + 1) * len(record["seeds"])
        epochs += runs * per_run
    n_search = len(load_splits(config.data).train_y)
    n_final = len(load_splits(final.data).train_y)
    full = epochs * n_search / (final.optim.epochs * n_final)
    starts = [t.datetime_start for t in trials if t.datetime_start and t.datetime_complete]
    ends = [t.datetime_complete for t in trials if t.datetime_start and t.datetime_complete]
    wall = (max(ends) - min(starts)).total_seconds() if starts else 0.0
    return SearchCost(
        student_epochs=epochs,
        full_trainings=full,
        trials=len(trials),
        wall_seconds=wall + extra_seconds,
    )


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (0 for one value) of ``values``."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
