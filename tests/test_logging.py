"""autokd's log handler follows ``sys.stderr`` when it is swapped, as pytest and notebooks do."""

from __future__ import annotations

import io
import sys

from autokd.logging import get_logger


def test_records_go_to_the_current_stderr_after_the_old_one_closed(monkeypatch):
    log = get_logger("autokd.test_stream")
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    log.warning("to the first stream")
    first.close()  # What a capture does when its test ends.
    monkeypatch.setattr(sys, "stderr", second)
    log.warning("to the second stream")
    assert second.getvalue() == "[autokd WARNING] to the second stream\n"


def test_one_stderr_handler_however_many_loggers_are_made():
    for name in ("a", "b", "autokd.c"):
        get_logger(name)
    # (conftest adds pytest's capture handlers beside it)
    stderr = [h for h in get_logger("autokd").handlers if type(h).__name__ == "_StderrHandler"]
    assert len(stderr) == 1
    assert not get_logger("autokd.c").handlers
