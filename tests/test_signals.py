"""A Ctrl-C or SIGTERM that lands in code which swallows it (a finaliser, a weakref callback)
still stops the command: the handler remembers it and ``raise_if_interrupted`` raises again."""

from __future__ import annotations

import os
import signal
import time

import pytest

from autokd._signals import Terminated
from autokd._signals import raise_if_interrupted
from autokd._signals import sigterm_as_interrupt


def _swallowed(signum: int) -> None:
    try:
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises here, at once
    except KeyboardInterrupt:
        pass  # as "Exception ignored in: <function _collection_gced ...>" does


@pytest.mark.parametrize(
    ("signum", "raised"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)]
)
def test_a_swallowed_signal_is_raised_again(signum, raised) -> None:
    before = signal.getsignal(signum)
    reached = []
    with pytest.raises(KeyboardInterrupt) as info:
        with sigterm_as_interrupt():
            start = time.monotonic()
            _swallowed(signum)
            assert time.monotonic() - start < 4  # the sleep was cut short by the handler
            reached.append("after the swallowed signal")
            raise_if_interrupted()
            reached.append("not reached")
    assert type(info.value) is raised
    assert reached == ["after the swallowed signal"]
    assert signal.getsignal(signum) is before  # the previous handler is back


def test_a_block_that_ends_after_a_swallowed_signal_ends_interrupted() -> None:
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_interrupt():
            _swallowed(signal.SIGINT)
    raise_if_interrupted()  # outside the block nothing is remembered: no raise


def test_no_signal_no_raise() -> None:
    with sigterm_as_interrupt():
        raise_if_interrupted()


def test_a_swallowed_interrupt_is_not_printed_but_other_unraisables_are(monkeypatch) -> None:
    import sys

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    class Noisy:
        def __init__(self, exc: BaseException) -> None:
            self.exc = exc

        def __del__(self) -> None:
            raise self.exc

    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_interrupt():
            _swallowed(signal.SIGINT)
            Noisy(KeyboardInterrupt())  # collected at once: an unraisable KeyboardInterrupt
            Noisy(ValueError("a real problem"))
    assert [type(u.exc_value) for u in seen] == [ValueError]
    assert sys.unraisablehook == seen.append  # restored
