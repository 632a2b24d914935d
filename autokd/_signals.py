"""SIGTERM handled like Ctrl-C: the running trial is recorded, then the process exits 143."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import signal
import threading

__all__ = ["EXIT_TERMINATED", "Terminated", "sigterm_as_interrupt"]

#: 128 + SIGTERM (15), the shell's convention for a process ended by SIGTERM.
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM.

    It is a :class:`KeyboardInterrupt`, so every place that records an interrupted trial
    (reason ``interrupted``, its MLflow run ended) handles it the same way; only the exit code
    differs (143 instead of 130).
    """


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only; elsewhere, and
    where signals cannot be set, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
