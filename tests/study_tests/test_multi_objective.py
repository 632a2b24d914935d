"""Multi-objective studies (val_acc vs student params) and the Pareto export.

One digits study (5 trials; the student width is 0.25 or 0.5) runs with two objectives, then
``autokd export --pareto`` writes its Pareto set.
"""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest

from autokd.cli import main
from autokd.config import StudyConfig
from autokd.exceptions import ConfigError
from autokd.models import build_model
from autokd.recipe import Recipe
from tests.conftest import write_study
from tests.study_tests.test_constraints import set_study_keys


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("multi")
    study_file = write_study(folder, n_trials=5)
    set_study_keys(study_file, objectives=["val_acc", "params"])
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["run", str(study_file), "--no-progress"]) == 0
    pareto = folder / "pareto"
    assert main(["export", str(study_file), "--pareto", "-o", str(pareto)]) == 0
    config = StudyConfig.from_yaml(study_file)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url())
    return {
        "folder": folder,
        "file": study_file,
        "study": study,
        "pareto": pareto,
        "stdout": stdout.getvalue(),
    }


def _params(recipe: Recipe) -> int:
    model = build_model(recipe.student, in_channels=1, num_classes=10)
    return sum(p.numel() for p in model.parameters())


def test_study_has_two_directions_and_tuple_values(ran: dict) -> None:
    study = ran["study"]
    assert study.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    trials = study.get_trials()
    assert len(trials) == 5
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        assert len(t.values) == 2
        assert 0.0 <= t.values[0] <= 1.0
        assert t.values[1] == t.user_attrs["student_params"]
        assert t.intermediate_values == {}  # no report, hence no pruning


def test_per_epoch_metrics_still_reach_mlflow(ran: dict) -> None:
    import mlflow

    study = ran["study"]
    client = mlflow.MlflowClient(tracking_uri=study.user_attrs["mlflow_tracking_uri"])
    run_id = study.trials[0].user_attrs["mlflow_run_id"]
    history = client.get_metric_history(run_id, "val_acc")
    assert sorted(m.step for m in history) == [0, 1, 2]
    assert client.get_run(run_id).info.status == "FINISHED"


def test_run_prints_the_pareto_set_size(ran: dict) -> None:
    size = len(ran["study"].best_trials)
    assert f"Pareto set: {size} trial(s)" in ran["stdout"]
    assert "best:" not in ran["stdout"]


def test_pareto_export_writes_one_recipe_per_pareto_trial(ran: dict) -> None:
    best = {t.number: t for t in ran["study"].best_trials}
    files = sorted(p.name for p in ran["pareto"].glob("trial_*.yaml"))
    assert files == sorted(f"trial_{n}.yaml" for n in best)
    for number, trial in best.items():
        recipe = Recipe.from_yaml(ran["pareto"] / f"trial_{number}.yaml")
        assert recipe.provenance["trial"] == number
        assert recipe.provenance["val_acc"] == pytest.approx(trial.values[0])
        assert recipe.provenance["study"] == "tiny"
        assert recipe.provenance["mlflow_run_id"] == trial.user_attrs["mlflow_run_id"]
        assert recipe.student.width == trial.params["student.width"]
        assert _params(recipe) == trial.user_attrs["student_params"] == trial.values[1]


def test_pareto_tables_are_non_dominated_and_sorted(ran: dict) -> None:
    with (ran["pareto"] / "pareto.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["trial", "val_acc", "params", "macs", "file"]
    assert len(rows) == len(ran["study"].best_trials)
    accs = [float(r["val_acc"]) for r in rows]
    assert accs == sorted(accs, reverse=True)
    points = [(float(r["val_acc"]), int(r["params"])) for r in rows]
    for i, (acc_a, par_a) in enumerate(points):
        for j, (acc_b, par_b) in enumerate(points):
            dominates = acc_a >= acc_b and par_a <= par_b and (acc_a > acc_b or par_a < par_b)
            assert not (i != j and dominates), (rows[i], rows[j])
    for r in rows:
        assert (ran["pareto"] / r["file"]).is_file()
    md = (ran["pareto"] / "pareto.md").read_text()
    assert md.count("trial_") == len(rows)


def test_export_without_pareto_refuses_in_one_line(
    ran: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ran["folder"] / "best.yaml"
    assert main(["export", str(ran["file"]), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--pareto -o DIR" in err
    assert not out.exists()


def test_report_refuses_in_one_line(ran: dict, capsys: pytest.CaptureFixture[str]) -> None:
    out = ran["folder"] / "report"
    assert main(["report", str(ran["file"]), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "objectives" in err


def test_resuming_with_other_objectives_refuses(
    ran: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    other = ran["folder"] / "other.yaml"
    other.write_text(ran["file"].read_text())
    set_study_keys(other, objectives=["val_acc", "macs"])
    assert main(["run", str(other), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "study.objectives" in err
    assert len(ran["study"].get_trials()) == 5


@pytest.mark.parametrize(
    ("objectives", "key"),
    [
        (["val_acc", "flops"], "study.objectives.1"),
        (["params", "val_acc"], "study.objectives.0"),
        (["val_acc", "params", "params"], "study.objectives.2"),
        ([], "study.objectives"),
    ],
)
def test_bad_objectives_name_the_key(tmp_path: Path, objectives: list, key: str) -> None:
    study_file = write_study(tmp_path)
    set_study_keys(study_file, objectives=objectives)
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(study_file)
    assert info.value.key == key
