from __future__ import annotations

from pathlib import Path

import pytest

from autokd.config import StudyConfig
from autokd.exceptions import ConfigError
from autokd.exceptions import MissingFileError
from autokd.study._factories import build_pruner
from autokd.study._factories import build_sampler


def _edit(study: Path, old: str, new: str) -> Path:
    study.write_text(study.read_text().replace(old, new))
    return study


def test_loads_with_defaults(tiny_study: Path) -> None:
    cfg = StudyConfig.from_yaml(tiny_study)
    assert cfg.study.name == "tiny" and cfg.study.n_trials == 4
    assert cfg.space_path == tiny_study.parent / "space.yaml"
    assert cfg.output_dir == tiny_study.parent / "run"
    # Default storage: an SQLite file inside the study folder, by absolute path.
    assert cfg.storage_url() == f"sqlite:///{(tiny_study.parent / 'run' / 'optuna.db').resolve()}"
    assert cfg.storage_url("postgresql://x/y") == "postgresql://x/y"


def test_default_output_dir_is_runs_name(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("seed: 0\n")
    (tmp_path / "st.yaml").write_text("study: {name: abc}\nsearch_space: s.yaml\n")
    assert StudyConfig.from_yaml(tmp_path / "st.yaml").output_dir == Path("runs/abc")


def test_samplers_and_pruners_are_built_seeded(tiny_study: Path) -> None:
    cfg = StudyConfig.from_yaml(tiny_study)
    sampler = build_sampler(cfg.study.sampler)
    assert type(sampler).__name__ == "TPESampler"
    assert type(build_pruner(cfg.study.pruner)).__name__ == "MedianPruner"


def test_missing_study_file(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError) as info:
        StudyConfig.from_yaml(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)


def test_missing_search_space(tiny_study: Path) -> None:
    _edit(tiny_study, "search_space: space.yaml", "search_space: gone.yaml")
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(tiny_study)
    assert info.value.key == "search_space" and "gone.yaml" in str(info.value)


def test_missing_checkpoint(tiny_study: Path) -> None:
    _edit(tiny_study, "teacher:\n", "teacher:\n  checkpoint: missing.pt\n")
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(tiny_study)
    assert info.value.key == "teacher.checkpoint" and "missing.pt" in str(info.value)


def test_unknown_sampler_suggests_closest(tiny_study: Path) -> None:
    _edit(tiny_study, "name: tpe", "name: tpee")
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(tiny_study)
    assert info.value.key == "study.sampler.name" and "tpe" in info.value.hint


def test_unknown_pruner_parameter(tiny_study: Path) -> None:
    _edit(tiny_study, "n_warmup_steps: 0", "n_warmup_stepz: 0")
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(tiny_study)
    assert info.value.key == "study.pruner.params.n_warmup_stepz"
    assert "n_warmup_steps" in info.value.hint


def test_wrong_type_in_study(tiny_study: Path) -> None:
    _edit(tiny_study, "n_trials: 4", "n_trials: many")
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(tiny_study)
    assert info.value.key == "study.n_trials" and str(tiny_study) in str(info.value)


def test_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(bad)
    assert "valid YAML" in str(info.value) and "line" in str(info.value)


def test_relative_data_root_is_read_from_the_study_folder(tiny_study: Path) -> None:
    _edit(tiny_study, "data: {name: digits}", "data: {name: mnist, root: ../data/mnist}")
    cfg = StudyConfig.from_yaml(tiny_study)
    assert cfg.data.root == str((tiny_study.parent.parent / "data" / "mnist").resolve())
    _edit(tiny_study, "root: ../data/mnist", "root: /abs/mnist")
    assert StudyConfig.from_yaml(tiny_study).data.root == "/abs/mnist"


FINAL = "final:\n  optim: {epochs: 20, lr_schedule: step, lr_milestones: [10, 15]}\n"


def test_final_training_fields_replace_the_searched_ones(tiny_study: Path) -> None:
    tiny_study.write_text(tiny_study.read_text() + FINAL + "  augment: {flip: true}\n")
    final = StudyConfig.from_yaml(tiny_study).final
    searched = {"optim": {"lr": 0.1, "epochs": 3, "batch_size": 128}, "augment": {"crop": 1}}
    out = final.apply(searched)
    assert out["optim"] == {
        "lr": 0.1,
        "epochs": 20,
        "batch_size": 128,
        "lr_schedule": "step",
        "lr_milestones": [10, 15],
    }
    assert out["augment"] == {"crop": 1, "flip": True}
    assert searched["optim"]["epochs"] == 3  # the input is not changed


@pytest.mark.parametrize(
    ("final", "key", "got"),
    [
        ("final:\n  optim: {epoch: 20}\n", "final.optim.epoch", "epoch"),
        ("final:\n  optim: {epochs: 0}\n", "final.optim.epochs", "0"),
        ("final:\n  augment: {crop: -1}\n", "final.augment.crop", "-1"),
        ("final:\n  model: {width: 2}\n", "final.model", "model"),
        (
            "final:\n  optim: {lr_schedule: step, lr_milestones: [5]}\n",
            "final.optim.epochs",
            "nothing",
        ),
    ],
)
def test_bad_final_section_names_the_key(tiny_study: Path, final: str, key: str, got: str) -> None:
    tiny_study.write_text(tiny_study.read_text() + final)
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_yaml(tiny_study)
    assert info.value.key == key and got in info.value.got
    assert info.value.file == str(tiny_study)
