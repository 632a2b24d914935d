from __future__ import annotations

from pathlib import Path

import pytest

from autokd.cli import KINDS
from autokd.cli import _registry
from autokd.cli import main
from autokd.recipe import Recipe


@pytest.mark.parametrize("kind", KINDS)
def test_list_shows_every_registered_name(kind: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["list", kind]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{kind}:"
    # One entry per name at two spaces; details (search ranges, knobs) are indented further.
    names = [line.split("(")[0].strip() for line in lines[1:] if not line.startswith("   ")]
    assert names == _registry(kind).list() and names


def test_list_losses_shows_kind_and_parameters(capsys: pytest.CaptureFixture) -> None:
    main(["list", "losses"])
    out = capsys.readouterr().out
    assert "kd(standardize=False)  [response]" in out and "at(p=2.0)  [feature]" in out
    assert "teacher_layer" not in out  # engine-filled parameters are hidden
    # Default search ranges, from the loss's own table.
    assert "search: weight 10..5000 log, p 1..4" in out


def test_validate_recipe(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "r.yaml"
    Recipe.from_dict({"student": {"width": 0.5}}).to_yaml(path)
    assert main(["validate", str(path)]) == 0
    assert f"ok: {path} (recipe)" in capsys.readouterr().out


def test_repo_files_validate(capsys: pytest.CaptureFixture) -> None:
    repo = Path(__file__).resolve().parents[2]
    files = sorted([*repo.glob("studies/*.yaml"), *repo.glob("search_spaces/*.yaml")])
    assert main(["validate", *map(str, files)]) == 0
    out = capsys.readouterr().out
    assert "(study)" in out and "(search space)" in out


def test_teacher_command_trains_and_caches(tiny_study: Path, capsys) -> None:
    assert main(["teacher", str(tiny_study)]) == 0
    first = capsys.readouterr().out
    assert main(["teacher", str(tiny_study)]) == 0
    second = capsys.readouterr().out
    assert first == second  # same cached checkpoint, hash and accuracies
    (ckpt,) = (tiny_study.parent / "run" / "teachers").glob("*.pt")
    assert str(ckpt.resolve()) in first


def test_failed_trial_log_is_one_short_line() -> None:
    import logging

    from autokd.cli import _one_line_trial_failures

    def record(msg: str, exc: type[BaseException] | None = None) -> logging.LogRecord:
        info = (exc, exc(), None) if exc else None
        return logging.LogRecord("optuna", logging.WARNING, "f", 1, msg, None, info)

    r = record(
        "Trial 6 failed with parameters: {'optim.lr': 0.1, 'x': 2} because of the following "
        "error: TrialSetupError('training loss became nan in epoch 2').",
        RuntimeError,
    )
    assert _one_line_trial_failures(r)
    assert (
        r.getMessage() == "Trial 6 failed: TrialSetupError('training loss became nan in epoch 2')."
    )
    assert r.exc_info is None  # no traceback
    assert not _one_line_trial_failures(record("Trial 6 failed with value None."))
    assert not _one_line_trial_failures(record("Trial 7 failed ...", KeyboardInterrupt))
