"""The ``autokd`` logger hierarchy; nothing here touches the root logger."""

from __future__ import annotations

import logging as _logging
import sys as _sys

__all__ = ["get_logger", "set_verbosity"]

_ROOT = "autokd"


class _StderrHandler(_logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record, not the one at start-up.

    A plain ``StreamHandler`` keeps the stream it was made with; when that stream is replaced
    and closed (pytest's capture, a notebook's redirect), later records fail with "I/O
    operation on closed file". The standard library's ``logging.lastResort`` works this way.
    """

    def __init__(self) -> None:
        super().__init__(_sys.stderr)

    @property
    def stream(self):
        return _sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _root_logger() -> _logging.Logger:
    logger = _logging.getLogger(_ROOT)
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(_logging.Formatter("[autokd %(levelname)s] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(_logging.INFO)
        logger.propagate = False
    return logger


def get_logger(name: str) -> _logging.Logger:
    """Returns a child of the ``autokd`` logger (``name`` is usually ``__name__``)."""
    _root_logger()
    return _logging.getLogger(name if name.startswith(_ROOT) else f"{_ROOT}.{name}")


def set_verbosity(level: int) -> None:
    """Sets the level of every autokd logger (``logging.INFO``, ``logging.WARNING``...)."""
    _root_logger().setLevel(level)
