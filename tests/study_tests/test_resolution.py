"""The validation-size rule: warn when one image is as large as the gaps to resolve."""

from __future__ import annotations

from pathlib import Path

import pytest

from autokd.cli import main
from autokd.study._resolution import MIN_VAL_IMAGES
from autokd.study._resolution import validation_note
from tests.conftest import write_study


def test_note_numbers_by_hand() -> None:
    # Rule: 288 images: one image 100/288 = 0.35 points; sqrt(2 * 0.9 * 0.1 / 288) = 0.025.
    note = validation_note(288)
    assert note is not None
    assert "one image is 0.35 points" in note and "±2.5 points" in note
    assert validation_note(MIN_VAL_IMAGES) is None and validation_note(MIN_VAL_IMAGES - 1)


def test_validate_warns_on_a_small_split_and_still_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # Rule: a warning line on stderr naming the file and data, exit 0; a large split: silent.
    study = write_study(tmp_path)  # digits, val_fraction 0.2: 288 images
    assert main(["validate", str(study)]) == 0
    err = capsys.readouterr().err
    assert f"autokd: warning: {study}: data: 288 validation images" in err
    study.write_text(
        study.read_text().replace(
            "data: {name: digits}", "data: {name: digits, val_fraction: 0.45}"
        )
    )
    assert main(["validate", str(study)]) == 0
    assert capsys.readouterr().err == ""
    # A small split with final_eval (its own remedy): silent too.
    small = study.read_text().replace("val_fraction: 0.45", "val_fraction: 0.2")
    study.write_text(small + "final_eval: {top_k: 2, seeds: 2}\n")
    assert main(["validate", str(study)]) == 0
    assert capsys.readouterr().err == ""
