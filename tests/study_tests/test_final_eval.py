"""final_eval: the top trials re-trained with several seeds, the test split measured once.

One tiny digits study (4 trials, 3 epochs) runs once for the module with
``final_eval: {top_k: 2, seeds: [0, 1]}``; every call of ``train_recipe`` made by the final
evaluation is recorded, so the tests can tell which runs measured the test split.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
import statistics
import types

import optuna
import pytest
import yaml

from autokd.cli import main
from autokd.config import StudyConfig
from autokd.engine import train_recipe
from autokd.exceptions import ConfigError
from autokd.recipe import Recipe
from autokd.report._export import export_best
from autokd.report._export import export_trial
import autokd.study._final_eval as final_eval_module
from autokd.study._final_eval import candidate_trials
from autokd.study._final_eval import run_final_eval
from tests.conftest import write_study

FINAL_EVAL = "final_eval: {top_k: 2, seeds: [0, 1]}\n"
SEEDS = [0, 1]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("final_eval")
    study_file = write_study(folder, n_trials=4)
    study_file.write_text(study_file.read_text() + FINAL_EVAL)
    calls: list[tuple[Recipe, bool]] = []

    def spy(recipe: Recipe, *, device, evaluate_test: bool = False, **kwargs):
        calls.append((recipe, evaluate_test))
        return train_recipe(recipe, device=device, evaluate_test=evaluate_test, **kwargs)

    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.setattr(final_eval_module, "train_recipe", spy)
        assert main(["run", str(study_file), "--no-progress"]) == 0
    best = folder / "best.yaml"
    assert main(["export", str(study_file), "-o", str(best)]) == 0
    config = StudyConfig.from_yaml(study_file)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url())
    return {
        "file": study_file,
        "config": config,
        "study": study,
        "record": study.user_attrs["final_eval"],
        "calls": calls,
        "stdout": stdout.getvalue(),
        "best": best,
    }


def _searched(ran: dict, number: int) -> Recipe:
    study = ran["study"]
    trial = next(t for t in study.get_trials() if t.number == number)
    return export_trial(ran["config"], study, trial, as_searched=True)


def _training(recipe: Recipe) -> dict:
    """The recipe's dict without provenance and seed: what a candidate is trained with."""
    data = recipe.to_dict()
    data.pop("provenance", None)
    data.pop("seed", None)
    return data


def test_candidates_are_the_top_k_complete_trials_by_value(ran: dict) -> None:
    record, study = ran["record"], ran["study"]
    complete = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) >= 2, "the tiny study should complete at least two trials"
    top = sorted(complete, key=lambda t: (-t.value, t.number))[:2]
    assert [c["trial"] for c in record["candidates"]] == [t.number for t in top]
    assert record["top_k"] == 2 and record["seeds"] == SEEDS


def test_candidate_vals_are_runs_of_the_exported_recipe(ran: dict) -> None:
    # Rule: a candidate is the trial's own (searched) recipe, as `autokd export` rebuilds it.
    study = ran["study"]
    values = {t.number: t.value for t in study.get_trials()}
    first = ran["record"]["candidates"][0]
    for c in ran["record"]["candidates"]:
        assert c["vals"][0] == values[c["trial"]]  # the space's seed is 0: the search's run
        assert c["val_mean"] == statistics.fmean(c["vals"])
        assert c["val_std"] == statistics.stdev(c["vals"])
    recipe = _searched(ran, first["trial"])
    again = train_recipe(recipe.with_overrides(seed=1), device="cpu")
    assert again.val_acc == first["vals"][1]


def test_winner_has_the_highest_mean(ran: dict) -> None:
    record = ran["record"]
    means = {c["trial"]: c["val_mean"] for c in record["candidates"]}
    assert means[record["winner"]] == max(means.values())
    winner = next(c for c in record["candidates"] if c["trial"] == record["winner"])
    assert (record["val_mean"], record["val_std"]) == (winner["val_mean"], winner["val_std"])


def test_only_the_winner_is_measured_on_test(ran: dict) -> None:
    record, calls = ran["record"], ran["calls"]
    assert all("test" not in key for c in record["candidates"] for key in c)
    n = len(record["candidates"])
    assert sum(not tested for _, tested in calls) == n * len(SEEDS)
    tested = [recipe for recipe, t in calls if t]
    assert [r.seed for r in tested] == SEEDS
    winner = _training(_searched(ran, record["winner"]))
    assert all(_training(r) == winner for r in tested)
    assert record["reproduced"] is True  # CPU: the test runs repeat the candidate phase


def test_test_statistics_are_those_of_the_stored_tests(ran: dict) -> None:
    record = ran["record"]
    assert len(record["tests"]) == len(SEEDS)
    assert all(0.0 <= t <= 1.0 for t in record["tests"])
    assert record["test_mean"] == statistics.fmean(record["tests"])
    assert record["test_std"] == statistics.stdev(record["tests"])


def test_mlflow_study_run_holds_the_summary(ran: dict) -> None:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=ran["study"].user_attrs["mlflow_tracking_uri"])
    run = client.get_run(ran["study"].user_attrs["mlflow_parent_run_id"])
    record = ran["record"]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["final_eval_val_mean"] == pytest.approx(record["val_mean"])
    assert run.data.metrics["final_eval_test_mean"] == pytest.approx(record["test_mean"])
    assert run.data.metrics["final_eval_test_std"] == pytest.approx(record["test_std"])
    assert run.data.tags["final_eval.winner"] == str(record["winner"])


def test_run_prints_the_candidates_and_the_winner(ran: dict) -> None:
    out, record = ran["stdout"], ran["record"]
    for c in record["candidates"]:
        assert f"trial {c['trial']:4d}  val_acc {c['val_mean']:.4f} ± {c['val_std']:.4f}" in out
    assert (
        f"winner: trial {record['winner']}; test_acc {record['test_mean']:.4f} ± "
        f"{record['test_std']:.4f} (2 seeds), measured once for the winner"
    ) in out


def test_export_writes_the_winner_with_its_summary(ran: dict) -> None:
    record = ran["record"]
    exported = Recipe.from_yaml(ran["best"])
    assert exported.provenance["trial"] == record["winner"]
    summary = exported.provenance["final_eval"]
    assert summary["winner"] == record["winner"] and summary["seeds"] == SEEDS
    assert summary["test_mean"] == pytest.approx(record["test_mean"])
    assert summary["val_mean"] == pytest.approx(record["val_mean"])
    assert _training(exported) == _training(_searched(ran, record["winner"]))


def test_export_follows_the_record_not_best_trial(ran: dict) -> None:
    # Rule: the record decides, even when its winner is not study.best_trial.
    study, record = ran["study"], ran["record"]
    other = next(c["trial"] for c in record["candidates"] if c["trial"] != study.best_trial.number)
    try:
        study.set_user_attr("final_eval", {**record, "winner": other})
        assert export_best(ran["config"]).provenance["trial"] == other
    finally:
        study.set_user_attr("final_eval", record)


def test_rerun_keeps_the_record_without_training(
    ran: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("final_eval trained again")

    monkeypatch.setattr(final_eval_module, "train_recipe", refuse)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", str(ran["file"]), "--no-progress"]) == 0
    assert ran["study"].user_attrs["final_eval"] == ran["record"]


def test_another_plan_is_redone(ran: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rule: other top_k/seeds (or other top trials) redo the evaluation. Training is faked
    # here: val_acc grows with the seed, test_acc is fixed.
    study, record, file = ran["study"], ran["record"], ran["file"]
    calls: list[bool] = []

    def fake(recipe: Recipe, *, device, evaluate_test: bool = False, **kwargs):
        calls.append(evaluate_test)
        test = 0.5 if evaluate_test else None
        return types.SimpleNamespace(val_acc=0.1 * recipe.seed, test_acc=test, seconds=0.0)

    monkeypatch.setattr(final_eval_module, "train_recipe", fake)
    text = file.read_text()
    try:
        file.write_text(text.replace(FINAL_EVAL, "final_eval: {top_k: 1, seeds: 3}\n"))
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["run", str(file), "--no-progress"]) == 0
        redone = study.user_attrs["final_eval"]
        assert redone["seeds"] == [0, 1, 2] and len(redone["candidates"]) == 1
        assert redone["winner"] == record["candidates"][0]["trial"]
        assert calls == [False] * 3 + [True] * 3
        assert redone["tests"] == [0.5] * 3 and redone["reproduced"] is True
    finally:
        file.write_text(text)
        study.set_user_attr("final_eval", record)


def test_candidates_train_with_the_study_engine_settings(
    ran: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bf16 / channels-last / compile change a run's numbers: final_eval trains as trials did.
    study, record, file = ran["study"], ran["record"], ran["file"]
    options: list[dict] = []

    def fake(recipe: Recipe, *, device, evaluate_test: bool = False, **kwargs):
        options.append({k: kwargs[k] for k in ("bf16", "channels_last", "compile")})
        test = 0.5 if evaluate_test else None
        return types.SimpleNamespace(val_acc=0.1 * recipe.seed, test_acc=test, seconds=0.0)

    monkeypatch.setattr(final_eval_module, "train_recipe", fake)
    text = file.read_text()
    engine = "engine: {precision: bf16, channels_last: true, compile: student}\n"
    try:
        file.write_text(text.replace(FINAL_EVAL, "final_eval: {top_k: 1, seeds: 2}\n" + engine))
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["run", str(file), "--no-progress"]) == 0
        assert options == [{"bf16": True, "channels_last": True, "compile": True}] * 4
    finally:
        file.write_text(text)
        study.set_user_attr("final_eval", record)


def test_ties_go_to_the_lower_std_then_the_study_value(ran: dict) -> None:
    # Two candidates with equal means: the steadier one wins; with equal stds, the one
    # with the better single-run value in the study.
    rank = final_eval_module._rank
    steady = {"trial": 5, "value": 0.8, "val_mean": 0.9, "val_std": 0.01}
    shaky = {"trial": 2, "value": 0.95, "val_mean": 0.9, "val_std": 0.05}
    assert max([shaky, steady], key=rank)["trial"] == 5
    lucky = {**steady, "trial": 7, "value": 0.85}
    assert max([steady, lucky], key=rank)["trial"] == 7


@pytest.mark.parametrize(
    ("section", "key", "got"),
    [
        ("final_eval: {top_k: 0}\n", "final_eval.top_k", "0"),
        ("final_eval: {top_k: 2, seeds: 1}\n", "final_eval.seeds", "1"),
        ("final_eval: {seeds: [3]}\n", "final_eval.seeds", "[3]"),
        ("final_eval: {seeds: [1, 1]}\n", "final_eval.seeds", "[1, 1]"),
        ("final_eval: {seeds: [0, -1]}\n", "final_eval.seeds", "[0, -1]"),
        ("final_eval: {seeds: [0, true]}\n", "final_eval.seeds", "True"),
        ("final_eval: {seeds: '0,1'}\n", "final_eval.seeds", "'0,1'"),
        ("final_eval: {top: 2}\n", "final_eval.top", "top"),
    ],
)
def test_bad_final_eval_names_the_key(tiny_study: Path, section: str, key: str, got: str) -> None:
    tiny_study.write_text(tiny_study.read_text() + section)
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(tiny_study)
    assert info.value.key == key and got in info.value.got
    assert info.value.file == str(tiny_study)


def test_seeds_as_a_count_mean_zero_to_n(tiny_study: Path) -> None:
    tiny_study.write_text(tiny_study.read_text() + "final_eval: {seeds: 4}\n")
    spec = StudyConfig.from_yaml(tiny_study).final_eval
    assert spec is not None and spec.top_k == 3 and spec.seeds == [0, 1, 2, 3]
    assert StudyConfig.from_yaml(write_study(tiny_study.parent / "off")).final_eval is None


def test_multi_objective_study_is_refused(tiny_study: Path) -> None:
    data = yaml.safe_load(tiny_study.read_text())
    data["study"]["objectives"] = ["val_acc", "params"]
    data["final_eval"] = {"top_k": 2, "seeds": 2}
    tiny_study.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(tiny_study)
    assert info.value.key == "final_eval" and "single-objective" in info.value.expected


def test_a_multi_objective_study_is_skipped_when_called_directly(
    tiny_study: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tiny_study.write_text(tiny_study.read_text() + FINAL_EVAL)
    config = StudyConfig.from_yaml(tiny_study)
    study = optuna.create_study(directions=["maximize", "minimize"])
    logger = logging.getLogger("autokd")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="autokd"):
            assert run_final_eval(config, study, device="cpu") is None
    finally:
        logger.removeHandler(caplog.handler)
    assert "several objectives" in caplog.text
    assert candidate_trials(optuna.create_study(), 3) == []
