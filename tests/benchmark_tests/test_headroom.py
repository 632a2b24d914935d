"""The benchmark's warning when the student alone is as good as its teacher."""

from __future__ import annotations

from autokd.benchmark._output import headroom_note
from autokd.benchmark._output import render_markdown
from autokd.benchmark._output import render_text


def _record(no_kd_mean: float | None, teacher: float | None) -> dict:
    rows = [
        {
            "name": "winner",
            "title": "w",
            "lr": 0.1,
            "lr_note": "searched",
            "n": 2,
            "tests": "0.8 0.8",
            "seconds": 1.0,
            "error": "",
            "test_mean": 0.8,
            "test_std": 0.0,
        },
    ]
    if no_kd_mean is not None:
        rows.append(
            {
                "name": "no_kd",
                "title": "n",
                "lr": 0.1,
                "lr_note": "",
                "n": 2,
                "tests": "",
                "seconds": 1.0,
                "error": "",
                "test_mean": no_kd_mean,
                "test_std": 0.01,
                "diff_mean": 0.8 - no_kd_mean,
                "diff_low": -0.1,
                "diff_high": 0.1,
                "verdict": "level",
            }
        )
    cost = {"student_epochs": 10, "full_trainings": 1.0, "trials": 2, "wall_seconds": 6.0}
    return {
        "seeds": [0, 1],
        "tune_lr": 0,
        "rows": rows,
        "cost": cost,
        "seconds": 1.0,
        "final_epochs": 5,
        "teacher_test_acc": teacher,
    }


def test_note_when_the_student_alone_matches_its_teacher() -> None:
    # Rule: no_kd's mean test accuracy at or above the teacher's -> one warning, in both views.
    record = _record(0.8355, 0.8333)
    note = headroom_note(record)
    assert "(0.8355)" in note and "test 0.8333" in note and "stronger teacher" in note
    assert note in render_text(record)
    assert note in render_markdown("s", record)


def test_no_note_when_the_teacher_is_ahead_or_unknown() -> None:
    # The teacher ahead by any margin, no recorded teacher accuracy, or no no_kd row: silent.
    for record in (_record(0.8332, 0.8333), _record(0.9, None), _record(None, 0.5)):
        assert headroom_note(record) == ""
        assert "stronger teacher" not in render_text(record)
        assert "stronger teacher" not in render_markdown("s", record)
