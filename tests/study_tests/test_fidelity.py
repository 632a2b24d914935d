"""Search at a low fidelity (half the training images, 3 epochs), export at the final budget.

One tiny digits study (3 trials) searches on ``data.train_fraction: 0.5``; its ``final``
section asks for all training images and 5 epochs. Each test checks one rule.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from autokd.cli import main
from autokd.config import StudyConfig
from autokd.data import load_splits
from autokd.exceptions import ConfigError
from autokd.recipe import DataSpec
from autokd.recipe import Recipe
from tests.conftest import write_study

FINAL = "final:\n  data: {train_fraction: null}\n  optim: {epochs: 5}\n"

# digits: 1797 images; test is ceil(0.2 * 1797) = 360 of them and validation
# ceil(0.2 * 1437) = 288 of the rest (scikit-learn rounds the split-off share up).
N_TRAIN_PART = 1797 - 360 - 288  # 1149
N_HALF = round(0.5 * N_TRAIN_PART)  # 574 (Python rounds half to even)


def _fidelity_study(folder: Path, final: str = FINAL) -> Path:
    study = write_study(folder, n_trials=3)
    text = study.read_text()
    assert "data: {name: digits}" in text
    study.write_text(
        text.replace("data: {name: digits}", "data: {name: digits, train_fraction: 0.5}") + final
    )
    return study


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("fidelity")
    study_file = _fidelity_study(folder)
    assert main(["run", str(study_file), "--no-progress"]) == 0
    out, searched = folder / "best.yaml", folder / "searched.yaml"
    assert main(["export", str(study_file), "-o", str(out)]) == 0
    assert main(["export", str(study_file), "-o", str(searched), "--as-searched"]) == 0
    config = StudyConfig.from_yaml(study_file)
    study = optuna.load_study(study_name="tiny", storage=config.storage_url())
    return {
        "folder": folder,
        "config": config,
        "study": study,
        "final": Recipe.from_yaml(out),
        "final_file": out,
        "searched": Recipe.from_yaml(searched),
    }


def test_the_split_sizes_this_module_relies_on() -> None:
    # Rule: the independent counts above are the loader's (guards the numbers used below).
    load_splits.cache_clear()
    full = load_splits(DataSpec(name="digits"))
    assert (len(full.train_y), len(full.val_y), len(full.test_y)) == (N_TRAIN_PART, 288, 360)
    assert len(load_splits(DataSpec(name="digits", train_fraction=0.5)).train_y) == N_HALF


def test_trials_search_on_the_fraction(ran: dict) -> None:
    # Rule: the study records the searched (half) split's hash, and the as-searched export
    # keeps the fraction and that hash.
    recorded = ran["study"].user_attrs["split_hash"]
    load_splits.cache_clear()
    half = load_splits(DataSpec(name="digits", train_fraction=0.5))
    assert recorded == half.split_hash
    assert ran["searched"].data.train_fraction == 0.5
    assert ran["searched"].data.split_hash == recorded


def test_each_trial_logs_its_train_fraction_to_mlflow(ran: dict) -> None:
    # Rule: the search fidelity is an MLflow param of every trial's run.
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=ran["study"].user_attrs["mlflow_tracking_uri"])
    ids = {t.user_attrs["mlflow_run_id"] for t in ran["study"].get_trials()}
    assert len(ids) == 3
    for run_id in ids:
        params = client.get_run(run_id).data.params
        assert params["data.train_fraction"] == "0.5" and params["optim.epochs"] == "3"


def test_exported_recipe_trains_on_the_final_data(ran: dict) -> None:
    # Rule: final.data replaces the training subset; null clears it (all training images).
    final = ran["final"]
    assert final.data.train_fraction is None and final.data.train_size is None
    assert final.optim.epochs == 5
    assert final.data.val_fraction == ran["config"].data.val_fraction


def test_exported_split_hash_is_the_final_splits(ran: dict) -> None:
    # Rule: data.split_hash is the hash of the final split, not the searched one.
    final = ran["final"]
    load_splits.cache_clear()
    fresh = load_splits(final.data.model_copy(update={"split_hash": None})).split_hash
    assert final.data.split_hash == fresh
    assert fresh != ran["study"].user_attrs["split_hash"]
    assert fresh == load_splits(DataSpec(name="digits")).split_hash


def test_provenance_records_search_fidelity_and_final_budget(ran: dict) -> None:
    # Rule: provenance says what the search trained on and what the final recipe trains on.
    prov = ran["final"].provenance
    assert prov["search_fidelity"] == {
        "epochs": 3,
        "train_size": None,
        "train_fraction": 0.5,
        "n_train": N_HALF,
        "lr_schedule": "cosine",
        "lr_milestones": [],
    }
    assert prov["final_budget"] == {"epochs": 5, "n_train": N_TRAIN_PART}
    assert prov["searched_optim"]["epochs"] == 3


def test_as_searched_export_has_no_final_budget(ran: dict) -> None:
    # Rule: --as-searched writes the searched recipe, so there is no second budget to record.
    assert "final_budget" not in ran["searched"].provenance
    assert "search_fidelity" not in ran["searched"].provenance


def test_exported_recipe_trains_with_its_recorded_split(ran: dict) -> None:
    # Rule: `autokd train` loads the final split and accepts its recorded hash.
    assert main(["train", str(ran["final_file"]), "--epochs", "1"]) == 0


def test_final_train_size_replaces_a_searched_fraction(ran: dict) -> None:
    # Rule: naming train_size in final.data clears the searched train_fraction.
    folder = ran["folder"]
    study_file = folder / "study_size.yaml"
    text = (folder / "study.yaml").read_text().replace(FINAL, "")
    study_file.write_text(text + "final:\n  data: {train_size: 300}\n")
    out = folder / "size.yaml"
    assert main(["export", str(study_file), "-o", str(out)]) == 0
    recipe = Recipe.from_yaml(out)
    assert recipe.data.train_size == 300 and recipe.data.train_fraction is None
    assert recipe.provenance["final_budget"] == {"epochs": 3, "n_train": 300}
    assert recipe.provenance["search_fidelity"]["n_train"] == N_HALF
    assert (
        recipe.data.split_hash == load_splits(DataSpec(name="digits", train_size=300)).split_hash
    )


def test_apply_replaces_the_training_subset_as_a_whole(tiny_study: Path) -> None:
    # Rule: a final.data key replaces the subset; the other key and the split hash are cleared.
    tiny_study.write_text(tiny_study.read_text() + "final:\n  data: {train_fraction: 0.75}\n")
    final = StudyConfig.from_yaml(tiny_study).final
    searched = {"data": {"name": "digits", "train_size": 100, "split_hash": "a" * 64}}
    out = final.apply(searched)
    assert out["data"] == {
        "name": "digits",
        "train_size": None,
        "train_fraction": 0.75,
        "split_hash": None,
    }
    assert searched["data"]["train_size"] == 100  # the input is not changed


def test_both_subset_keys_in_the_study_data_name_data_train_fraction(tiny_study: Path) -> None:
    # Rule: train_size with train_fraction in a study's data is one ConfigError.
    text = tiny_study.read_text()
    tiny_study.write_text(
        text.replace(
            "data: {name: digits}", "data: {name: digits, train_size: 100, train_fraction: 0.5}"
        )
    )
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(tiny_study)
    assert info.value.key == "data.train_fraction" and info.value.file == str(tiny_study)


@pytest.mark.parametrize(
    ("data", "key", "got"),
    [
        ("{val_fraction: 0.3}", "final.data.val_fraction", "val_fraction"),
        ("{name: mnist}", "final.data.name", "name"),
        ("{train_size: 0}", "final.data.train_size", "0"),
        ("{train_fraction: 1.5}", "final.data.train_fraction", "1.5"),
        ("{train_size: 10, train_fraction: 0.5}", "final.data.train_fraction", "train_size=10"),
    ],
)
def test_bad_final_data_names_the_key(tiny_study: Path, data: str, key: str, got: str) -> None:
    # Rule: final.data holds train_size / train_fraction only, each valid, never both.
    tiny_study.write_text(tiny_study.read_text() + f"final:\n  data: {data}\n")
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(tiny_study)
    assert info.value.key == key and got in info.value.got
    assert info.value.file == str(tiny_study)


def test_export_needs_the_final_datasets_files(tmp_path: Path) -> None:
    # Rule: the final split is read from the files; missing files are exit 2, nothing written.
    from autokd.testing.fake_data import write_idx

    root = write_idx(tmp_path / "mnist", n_train=300, n_test=50)
    study = _fidelity_study(tmp_path / "s")
    text = study.read_text().replace("name: digits,", f"name: mnist, root: {root},")
    study.write_text(text.replace("n_trials: 3", "n_trials: 1"))
    assert main(["run", str(study), "--no-progress"]) == 0
    for path in root.iterdir():
        path.unlink()
    load_splits.cache_clear()
    out = tmp_path / "best.yaml"
    assert main(["export", str(study), "-o", str(out)]) == 2
    assert not out.exists()
