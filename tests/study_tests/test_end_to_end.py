"""The spine end to end on digits: run -> resume -> export -> train -> report, tracked in MLflow.

One small study (4 trials, 3 epochs) is run once for the module; each test checks one rule.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

import optuna
from optuna.trial import TrialState
import pytest
import yaml

from autokd.cli import main
from autokd.config import StudyConfig
from autokd.recipe import Recipe
from tests.conftest import write_study


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("e2e")
    study_file = write_study(folder, n_trials=4)
    assert main(["run", str(study_file), "--no-progress"]) == 0
    best = folder / "best.yaml"
    assert main(["export", str(study_file), "-o", str(best)]) == 0
    config = StudyConfig.from_yaml(study_file)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url())
    return {
        "folder": folder,
        "study_file": study_file,
        "config": config,
        "study": study,
        "best": best,
    }


def _mlflow_runs(ran: dict):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=ran["study"].user_attrs["mlflow_tracking_uri"])
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return client, runs


def test_study_holds_n_trials_with_per_epoch_reports(ran: dict) -> None:
    trials = ran["study"].get_trials()
    assert len(trials) == 4
    assert any(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        if t.state == TrialState.COMPLETE:
            assert sorted(t.intermediate_values) == [0, 1, 2]  # one report per epoch
            assert t.value == t.intermediate_values[2]  # the value is the last epoch's
        assert "mlflow_run_id" in t.user_attrs


def test_rerun_resumes_to_the_total(ran: dict) -> None:
    # Rule: n_trials is the total; rerunning a finished study adds nothing, a larger total
    # adds exactly the difference.
    assert main(["run", str(ran["study_file"]), "--no-progress"]) == 0
    assert len(ran["study"].get_trials()) == 4
    assert main(["run", str(ran["study_file"]), "--no-progress", "--n-trials", "5"]) == 0
    assert len(ran["study"].get_trials()) == 5


def test_mlflow_has_one_parent_and_a_child_per_trial(ran: dict) -> None:
    client, runs = _mlflow_runs(ran)
    parents = [r for r in runs if r.data.tags.get("autokd.role") == "study"]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    trials = ran["study"].get_trials()
    assert len(children) == len(trials)
    by_id = {r.info.run_id: r for r in children}
    expected_status = {
        TrialState.COMPLETE: "FINISHED",
        TrialState.PRUNED: "KILLED",
        TrialState.FAIL: "FAILED",
    }
    for t in trials:
        run = by_id[t.user_attrs["mlflow_run_id"]]
        assert run.data.tags["autokd.trial_number"] == str(t.number)
        assert run.info.status == expected_status[t.state]
        history = client.get_metric_history(run.info.run_id, "val_acc")
        assert {m.step: m.value for m in history} == pytest.approx(t.intermediate_values)
        for name, value in t.params.items():
            assert run.data.params[name] == str(value)


def test_trial_run_holds_its_recipe(ran: dict, tmp_path: Path) -> None:
    client, runs = _mlflow_runs(ran)
    trial = ran["study"].best_trial
    path = client.download_artifacts(trial.user_attrs["mlflow_run_id"], "recipe.yaml", tmp_path)
    recipe = Recipe.from_yaml(path)
    assert recipe.flat_params()["optim.lr"] == trial.params["optim.lr"]


def test_export_records_provenance(ran: dict) -> None:
    recipe = Recipe.from_yaml(ran["best"])
    best = ran["study"].best_trial
    prov = recipe.provenance
    assert prov["trial"] == best.number and prov["val_acc"] == best.value
    assert prov["mlflow_run_id"] == best.user_attrs["mlflow_run_id"]
    assert prov["study"] == "tiny" and prov["autokd_version"]
    # Parameter counts of the trial: the student's, and the losses' learnable parts.
    from autokd.engine import train_recipe

    result = train_recipe(recipe.with_overrides(epochs=1))
    assert prov["student_params"] == result.student_params
    assert prov["extra_params"] == result.extra_params
    assert recipe.teacher is not None and Path(recipe.teacher.checkpoint).is_file()


def test_train_reproduces_the_trial_exactly(ran: dict, capsys: pytest.CaptureFixture) -> None:
    # Rule: the exported recipe re-trains to the very validation accuracy of its trial (CPU).
    from autokd.engine import train_recipe

    recipe = Recipe.from_yaml(ran["best"])
    result = train_recipe(recipe, device="cpu", evaluate_test=True)
    assert result.val_acc == recipe.provenance["val_acc"]
    assert main(["train", str(ran["best"])]) == 0
    out = capsys.readouterr().out
    assert f"val_acc {recipe.provenance['val_acc']:.4f}" in out and "test_acc" in out


def test_teacher_is_cached_and_reused(ran: dict) -> None:
    from autokd.study import ensure_teacher

    folder = ran["config"].output_dir / "teachers"
    (ckpt,) = folder.glob("*.pt")
    mtime = ckpt.stat().st_mtime_ns
    spec = ensure_teacher(ran["config"])
    assert Path(spec.checkpoint) == ckpt.resolve() and ckpt.stat().st_mtime_ns == mtime
    assert spec.val_acc > 0.8 and spec.test_acc > 0.8  # a real, trained teacher
    assert ran["study"].user_attrs["teacher"]["sha256"] == spec.sha256


def test_optuna_cli_lists_the_trials(ran: dict) -> None:
    optuna_cli = Path(sys.executable).parent / "optuna"
    out = subprocess.run(
        [
            str(optuna_cli),
            "trials",
            "--storage",
            ran["config"].storage_url(),
            "--study-name",
            "tiny",
            "-f",
            "yaml",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = yaml.safe_load(out)
    assert sorted(r["number"] for r in rows) == [t.number for t in ran["study"].get_trials()]


def test_report_writes_importances_and_plots(ran: dict) -> None:
    out = ran["folder"] / "report"
    assert main(["report", str(ran["study_file"]), "-o", str(out)]) == 0
    for name in (
        "importances.csv",
        "report.md",
        "optimization_history.html",
        "optimization_history.png",
    ):
        assert (out / name).stat().st_size > 0
    text = (out / "report.md").read_text()
    assert "teacher val_acc" in text


def test_export_pins_the_split_the_search_used(ran: dict) -> None:
    from autokd.data import load_splits

    recipe = Recipe.from_yaml(ran["best"])
    recorded = ran["study"].user_attrs["split_hash"]
    assert recipe.data.split_hash == recorded
    assert load_splits(ran["config"].data).split_hash == recorded  # recomputed from the data


def test_export_applies_the_final_training(ran: dict) -> None:
    # Rule: the study's `final` section replaces the searched training in the exported
    # recipe (the searched values go to the provenance); --as-searched keeps them.
    final_study = ran["folder"] / "study_final.yaml"
    final_study.write_text(
        ran["study_file"].read_text()
        + "final:\n  optim: {epochs: 6, lr_schedule: step, lr_milestones: [4]}\n"
        + "  augment: {flip: true}\n"
    )
    out, searched_out = ran["folder"] / "final.yaml", ran["folder"] / "searched.yaml"
    assert main(["export", str(final_study), "-o", str(out)]) == 0
    assert main(["export", str(final_study), "-o", str(searched_out), "--as-searched"]) == 0
    final, searched = Recipe.from_yaml(out), Recipe.from_yaml(searched_out)
    best = ran["study"].best_trial
    assert final.optim.epochs == 6 and list(final.optim.lr_milestones) == [4]
    assert final.augment.flip and not searched.augment.flip
    assert final.optim.lr == searched.optim.lr == best.params["optim.lr"]
    assert final.provenance["searched_optim"]["epochs"] == searched.optim.epochs == 3
    assert "searched_optim" not in searched.provenance
    assert final.distill == searched.distill and final.student == searched.student


def test_train_compare_prints_both_baselines_with_paired_differences(
    ran: dict, capsys: pytest.CaptureFixture
) -> None:
    argv = ["train", str(ran["best"]), "--seeds", "0,1", "--epochs", "1", "--compare"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        if line.startswith("[") and "test_acc" in line:
            name, rest = line[1:].split("] seed ")
            seed, _, acc = rest.partition(": val_acc ")
            rows[(name, int(seed))] = float(acc.split("test_acc ")[1].split()[0])
    names = ["distilled", "no distillation", "KD T=4 alpha=0.9"]
    assert set(rows) == {(n, s) for n in names for s in (0, 1)}
    for name in names[1:]:
        diffs = [rows[("distilled", s)] - rows[(name, s)] for s in (0, 1)]
        mean = sum(diffs) / 2
        line = next(x for x in out.splitlines() if x.strip().startswith(f"distilled - {name}:"))
        printed = float(line.split("test_acc ")[1].split(" ± ")[0])
        assert printed == pytest.approx(mean, abs=1.1e-4) and line.endswith("(paired)")


@pytest.mark.parametrize(("flag", "bf16"), [([], None), (["--precision", "bf16"], True)])
def test_train_precision_flag_reaches_every_run(
    ran: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, flag, bf16
) -> None:
    import autokd.engine

    seen = []
    real = autokd.engine.train_recipe

    def spy(recipe, **kwargs):
        seen.append(kwargs["bf16"])
        return real(recipe, **kwargs)

    monkeypatch.setattr(autokd.engine, "train_recipe", spy)
    argv = ["train", str(ran["best"]), "--seeds", "0", "--epochs", "1", "--compare", *flag]
    assert main(argv) == 0
    assert seen == [bf16] * 3  # distilled and both baselines
    capsys.readouterr()
