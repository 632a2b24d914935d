"""Every kind of bad input: one line naming file and key, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from autokd.cli import main
from tests.conftest import TINY_SPACE
from tests.conftest import write_study


def _run_bad(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    return err


@pytest.mark.parametrize(
    ("old", "new", "key", "fragment"),
    [
        ("  lr: {type", "  lrr: {type", "optim.lrr", "Did you mean 'lr'"),
        ("epochs: 3", "epochs: three", "optim.epochs", "'three'"),
        ("kd: {weight: 1.0}", "kdd: {weight: 1.0}", "distill.terms.kdd", "Did you mean 'kd'"),
        ("family: cnn", "family: cnnx", "student.family", "Did you mean 'cnn'"),
        ("low: 0.03, high: 0.2", "low: 0.2, high: 0.03", "optim.lr", "low < high"),
        ("low: 0.03, high: 0.2", "low: 0.2, high: 0.2", "optim.lr", "low < high"),
        ("stages.2 -> stages.2", "stages.2 -> stagez.2", "distill.terms.at.pair", "stagez.2"),
    ],
)
def test_bad_search_space(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    key: str,
    fragment: str,
) -> None:
    assert old in TINY_SPACE
    study = write_study(tmp_path, space=TINY_SPACE.replace(old, new))
    err = _run_bad(capsys, ["run", str(study), "--no-progress"])
    assert "space.yaml" in err and f"{key}:" in err and fragment in err
    assert "expected" in err and "but got" in err
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.parametrize(
    ("old", "new", "key", "fragment"),
    [
        ("data: {name: digits}", "data: {name: digitz}", "data.name", "Did you mean 'digits'"),
        ("n_trials: 4", "n_trials: 0", "study.n_trials", "greater than or equal to 1"),
        ("device: cpu", "device: tpu", "device", "auto|cpu"),
        ("search_space: space.yaml", "search_space: nope.yaml", "search_space", "nope.yaml"),
        ("teacher:\n", "teacher:\n  checkpoint: gone.pt\n", "teacher.checkpoint", "gone.pt"),
        ("teacher:\n", "teacher:\n  colour: red\n", "teacher.colour", "unknown key"),
    ],
)
def test_bad_study_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    key: str,
    fragment: str,
) -> None:
    study = write_study(tmp_path)
    text = study.read_text()
    assert old in text
    study.write_text(text.replace(old, new, 1))
    err = _run_bad(capsys, ["run", str(study), "--no-progress"])
    assert f"{key}:" in err and fragment in err and "study.yaml" in err
    assert not (tmp_path / "run").exists()


def test_missing_study_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_bad(capsys, ["run", str(tmp_path / "absent.yaml")])
    assert "absent.yaml" in err and "not found" in err


def test_bad_recipe_and_missing_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "schema_version: 1\nteacher: {model: {family: cnn}, checkpoint: none.pt, sha256: '"
        + "0" * 64
        + "'}\ndistill: {alpha: 0.5, terms: {kd: {}}}\n"
    )
    err = _run_bad(capsys, ["train", str(recipe)])
    assert "teacher.checkpoint" in err and "none.pt" in err
    recipe.write_text("schema_version: 2\n")
    err = _run_bad(capsys, ["train", str(recipe)])
    assert f"{recipe}: schema_version:" in err


def test_bad_seeds_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("schema_version: 1\n")
    err = _run_bad(capsys, ["train", str(recipe), "--seeds", "a,b"])
    assert "--seeds" in err and "'a,b'" in err


def test_export_before_run_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = write_study(tmp_path)
    err = _run_bad(capsys, ["export", str(study), "-o", str(tmp_path / "best.yaml")])
    assert "autokd run" in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "best.yaml").exists()


def test_validate_reports_each_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = write_study(tmp_path)
    bad = tmp_path / "bad_space.yaml"
    bad.write_text("optim: {lr: {type: float, low: 1.0, high: 0.1}}\n")
    code = main(["validate", str(study), str(tmp_path / "space.yaml"), str(bad)])
    out, err = capsys.readouterr()
    assert code == 2
    assert f"ok: {study} (study)" in out and "(search space)" in out
    assert "bad_space.yaml: optim.lr:" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "dataset", ["mnist", "fashion_mnist", "cifar10", "cifar100", "imagefolder"]
)
@pytest.mark.parametrize("command", ["run", "teacher"])
def test_missing_dataset_root_stops_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dataset: str, command: str
) -> None:
    study = write_study(tmp_path)
    study.write_text(
        study.read_text().replace("data: {name: digits}", f"data: {{name: {dataset}, root: gone}}")
    )
    err = _run_bad(capsys, [command, str(study)])
    assert str(tmp_path / "gone") in err
    assert not (tmp_path / "run").exists()


def test_corrupt_dataset_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from autokd.testing.fake_data import write_idx

    root = write_idx(tmp_path / "mnist", n_train=200, n_test=50)
    victim = next(root.rglob("train-images-idx3-ubyte.gz"))
    victim.write_bytes(victim.read_bytes()[:100])  # truncated download
    study = write_study(tmp_path)
    study.write_text(
        study.read_text().replace("data: {name: digits}", f"data: {{name: mnist, root: {root}}}")
    )
    err = _run_bad(capsys, ["run", str(study)])
    assert "train-images-idx3-ubyte" in err
    assert not (tmp_path / "run").exists()
