"""Ctrl-C and SIGTERM stop a study cleanly: the running trial is recorded, then the process
exits 130 (SIGINT) or 143 (SIGTERM)."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import signal
import sys
import threading

__all__ = [
    "EXIT_TERMINATED",
    "Terminated",
    "raise_if_interrupted",
    "sigterm_as_interrupt",
]

#: 128 + SIGTERM (15), the shell's convention for a process ended by SIGTERM.
EXIT_TERMINATED = 128 + signal.SIGTERM

#: Signals received inside :func:`sigterm_as_interrupt`, in order.
_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM.

    It is a :class:`KeyboardInterrupt`, so every place that records an interrupted trial
    (reason ``interrupted``, its MLflow run ended) handles it the same way; only the exit code
    differs (143 instead of 130).
    """


def _exception(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _raise(signum: int, frame: object) -> None:
    _received.append(signum)
    raise _exception(signum)


def raise_if_interrupted() -> None:
    """Raises again a signal's exception that the code it landed in swallowed.

    Python raises a signal handler's exception wherever the main thread happens to be; when
    that is a finaliser or a weakref callback (SQLAlchemy has some), the interpreter would
    print "Exception ignored" with a traceback (not within :func:`sigterm_as_interrupt`,
    which silences those) and carry on, and the study would run to its end. A study calls this
    at each trial and each epoch, so such a signal still stops it there. No-op in other threads
    and when no signal came.
    """
    if _received and threading.current_thread() is threading.main_thread():
        raise _exception(_received[-1])


def _quiet_swallowed_interrupts(previous):
    """An ``sys.unraisablehook`` that does not print a signal's swallowed exception (it is
    raised again at the next check) and passes anything else on."""

    def hook(unraisable) -> None:
        if _received and isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        previous(unraisable)

    return hook


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` and SIGINT ``KeyboardInterrupt``,
    and both are remembered for :func:`raise_if_interrupted` (main thread only; elsewhere,
    and where signals cannot be set, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_swallowed_interrupts(previous_hook)
    try:
        yield
        raise_if_interrupted()  # a swallowed signal still ends the command as interrupted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = previous_hook
        _received.clear()
