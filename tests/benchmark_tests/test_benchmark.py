"""`autokd benchmark` end to end on a tiny digits study: tables, resume, MLflow, bad input."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import mlflow
import optuna
import pytest

from autokd.benchmark import lr_grid
from autokd.benchmark import paired_difference
from autokd.benchmark import run_benchmark
from autokd.benchmark import search_cost
from autokd.benchmark._benchmark import Ledger
from autokd.cli import main
from autokd.config import StudyConfig
from autokd.recipe import Recipe
from autokd.study import run_study
from tests.conftest import write_study

BASELINES = ["no_kd", "kd", "dkd"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("bench")
    path = write_study(folder, n_trials=2)
    config = StudyConfig.from_yaml(path)
    run_study(config, progress=False)
    result = run_benchmark(config, seeds=[0, 1], baselines=BASELINES)
    return {"path": path, "config": config, "result": result}


def test_every_recipe_trains_on_every_seed(bench: dict) -> None:
    # Rule: the winner and each baseline train once per seed; the table pairs them by seed.
    result = bench["result"]
    assert [e.name for e in result.entries] == ["winner", *BASELINES]
    for entry in result.entries:
        assert entry.error is None and len(entry.tests) == 2
    for name, diff in result.diffs.items():
        entry = next(e for e in result.entries if e.name == name)
        assert diff == paired_difference(result.winner.tests, entry.tests)
    lines = (result.out_dir / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 2 * (1 + len(BASELINES))
    assert len({json.loads(line)["key"] for line in lines}) == len(lines)


def test_files_hold_the_table(bench: dict) -> None:
    # Rule: benchmark.md/.csv show each recipe's mean and the paired interval; PNG and HTML exist.
    out = bench["result"].out_dir
    rows = list(csv.DictReader((out / "benchmark.csv").open()))
    assert [r["name"] for r in rows] == ["winner", *BASELINES]
    kd = next(r for r in rows if r["name"] == "kd")
    diff = bench["result"].diffs["kd"]
    assert float(kd["diff_low"]) == pytest.approx(diff.low)
    assert kd["verdict"] == diff.verdict
    text = (out / "benchmark.md").read_text()
    assert f"[{diff.low:+.4f}, {diff.high:+.4f}]" in text and "n = 2 seeds" in text
    assert (out / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "benchmark.html").read_text()
    assert "plotly.min.js" in page and (out / "plotly.min.js").is_file()
    # Both panels: each recipe's accuracy and the paired gaps, one bar per baseline.
    assert "winner minus each baseline" in page
    assert '"name":"test accuracy"' in page and '"name":"paired difference"' in page
    recipe = Recipe.from_yaml(out / "recipes" / "dkd.yaml")
    assert recipe.distill.ce_weight == 1.0 and recipe.seed == bench["result"].winner.recipe.seed


def test_recorded_in_mlflow_under_the_study_run(bench: dict) -> None:
    # Rule: one child run of the study's run, role benchmark, with metrics and the table.
    config: StudyConfig = bench["config"]
    study = optuna.load_study(
        study_name="tiny", storage=f"sqlite:///{config.output_dir / 'optuna.db'}"
    )
    client = mlflow.MlflowClient(f"sqlite:///{config.output_dir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id], "tags.`autokd.role` = 'benchmark'")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["mlflow.parentRunId"] == study.user_attrs["mlflow_parent_run_id"]
    assert run.data.metrics["diff_mean.kd"] == pytest.approx(bench["result"].diffs["kd"].mean)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"benchmark.md", "benchmark.csv", "benchmark.png", "benchmark.html"} <= artifacts
    # The page's script travels with it, and the recipes folder as a folder.
    assert {"plotly.min.js", "recipes"} <= artifacts
    recipes = {a.path for a in client.list_artifacts(run.info.run_id, "recipes")}
    assert recipes == {f"recipes/{name}.yaml" for name in ["winner", *BASELINES]}
    assert study.user_attrs["benchmark"]["seeds"] == [0, 1]


def test_report_includes_the_benchmark(bench: dict, tmp_path: Path) -> None:
    # Rule: `autokd report` shows the stored benchmark table with its intervals and verdicts.
    assert main(["report", str(bench["path"]), "-o", str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    diff = bench["result"].diffs["dkd"]
    assert "## Benchmark: the winner against the baselines" in text
    assert f"{diff.mean:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}] | {diff.verdict}" in text


def test_a_rerun_trains_only_what_is_missing(bench: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rule: finished (recipe, seed) trainings are read back; a new seed trains only itself.
    import autokd.benchmark._benchmark as module

    calls: list[int] = []
    real = module.train_recipe

    def counting(recipe, **kwargs):
        calls.append(recipe.seed)
        return real(recipe, **kwargs)

    monkeypatch.setattr(module, "train_recipe", counting)
    again = run_benchmark(bench["config"], seeds=[0, 1], baselines=BASELINES)
    assert calls == []
    assert [e.tests for e in again.entries] == [e.tests for e in bench["result"].entries]
    more = run_benchmark(bench["config"], seeds=[0, 1, 2], baselines=["no_kd"])
    assert calls == [2, 2]  # the winner and no_kd on the new seed
    assert more.entries[0].tests[:2] == bench["result"].entries[0].tests


def test_tune_lr_gives_each_baseline_its_best_validation_lr(bench: dict, tmp_path: Path) -> None:
    # Rule: with --tune-lr K each baseline trains K learning rates on the first seed (val only)
    # and keeps the best by val_acc; the winner keeps its searched lr.
    result = run_benchmark(
        bench["config"], seeds=[0, 1], baselines=["no_kd"], tune_lr=3, out_dir=tmp_path
    )
    winner, no_kd = result.entries
    grid = lr_grid(winner.recipe.optim.lr, 3, (0.03, 0.2))  # TINY_SPACE: lr 0.03..0.2
    records = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    searched = {r["lr"]: r["val_acc"] for r in records if r["phase"] == "lr"}
    assert sorted(searched) == pytest.approx(sorted(grid))
    assert all(r["seed"] == 0 for r in records if r["phase"] == "lr")
    # Best val_acc; a tie goes to the lr nearest the winner's.
    near = winner.recipe.optim.lr
    best = max(searched, key=lambda lr: (searched[lr], -abs(math.log(lr / near))))
    assert no_kd.recipe.optim.lr == best
    # Seed 0 at the chosen lr is the search's own run, not trained again: no_kd's test records
    # are seed 1 only, and its seed-0 result is the chosen lr's.
    no_kd_tests = [r for r in records if r["phase"] == "test" and r["name"] == "no_kd"]
    assert [r["seed"] for r in no_kd_tests] == [1]
    chosen = next(r for r in records if r["phase"] == "lr" and r["lr"] == best)
    assert no_kd.tests[0] == chosen["test_acc"] and no_kd.vals[0] == chosen["val_acc"]
    assert winner.lr_note == "searched" and no_kd.lr_note.startswith("tuned over 3 values")
    assert "tuned over 3 values" in (tmp_path / "benchmark.md").read_text()


def test_a_torn_ledger_line_is_trained_again(tmp_path: Path) -> None:
    # Rule: a line cut by a crash is ignored, the others are kept.
    path = tmp_path / "runs.jsonl"
    path.write_text('{"key": "a", "val_acc": 0.5}\n{"key": "b", "val_a')
    ledger = Ledger(path)
    assert ledger.get("a") == {"key": "a", "val_acc": 0.5} and ledger.get("b") is None


def test_search_cost_counts_every_student_epoch(bench: dict) -> None:
    # Rule: student-epochs of all trials (pruned ones to where they stopped) divided by the
    # final epochs, at equal training-set size.
    config: StudyConfig = bench["config"]
    study = optuna.create_study(direction="maximize")
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for state, epochs in (
        (optuna.trial.TrialState.COMPLETE, 3),
        (optuna.trial.TrialState.PRUNED, 1),
    ):
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=0.5 if state == optuna.trial.TrialState.COMPLETE else None,
                params={"x": 0.5},
                distributions=dist,
                intermediate_values={e: 0.5 for e in range(epochs)},
            )
        )
    final = Recipe.from_dict({"data": config.data.model_dump(), "optim": {"epochs": 8}})
    cost = search_cost(config, study, final)
    assert (cost.student_epochs, cost.trials) == (4, 2)
    assert cost.full_trainings == pytest.approx(4 / 8)


def test_bad_input_is_one_line_and_writes_nothing(
    bench: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # Rule: unknown baseline, fewer than 2 seeds, a study that has not run: exit 2, one line.
    study = str(bench["path"])
    out = tmp_path / "out"
    cases = [
        (["--baselines", "no_kd,dkdd"], "--baselines: expected names from"),
        (["--seeds", "1"], "--seeds: expected a count N >= 2"),
        (["--seeds", "0,0"], "--seeds"),
        (["--tune-lr", "1"], "--tune-lr"),
    ]
    for flags, message in cases:
        assert main(["benchmark", study, "-o", str(out), *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    assert "Did you mean 'dkd'" in _last(capsys, study, out, ["--baselines", "dkdd"])
    fresh = write_study(tmp_path / "fresh")
    assert main(["benchmark", str(fresh), "-o", str(out)]) == 2
    assert "run `autokd run` first" in capsys.readouterr().err
    assert not out.exists()


def _last(capsys: pytest.CaptureFixture, study: str, out: Path, flags: list[str]) -> str:
    assert main(["benchmark", study, "-o", str(out), *flags]) == 2
    return capsys.readouterr().err
