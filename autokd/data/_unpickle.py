"""A pickle reader that rebuilds numpy arrays, lists and bytes, and refuses everything else.

Pickles can run any importable callable, so a downloaded batch file must not be opened with
plain ``pickle.load``. This reader resolves only the names numpy's array pickling uses.
"""

from __future__ import annotations

import codecs
import importlib
from pathlib import Path
import pickle
from typing import Any

import numpy as np

from autokd.exceptions import ConfigError

__all__ = ["safe_unpickle"]


def _numpy_core(module: str, name: str) -> Any:
    # numpy 2 moved numpy.core to numpy._core; old pickles still name numpy.core.
    try:
        return getattr(importlib.import_module(f"numpy._core.{module}"), name)
    except ImportError:  # numpy 1.x
        return getattr(importlib.import_module(f"numpy.core.{module}"), name)


def _allowed() -> dict[tuple[str, str], Any]:
    names: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # bytes pickled with protocol 2
        ("builtins", "bytes"): bytes,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "list"): list,
    }
    for module, name in (("multiarray", "_reconstruct"), ("numeric", "_frombuffer")):
        for package in ("numpy.core", "numpy._core"):
            names[(f"{package}.{module}", name)] = _numpy_core(module, name)
    return names


class _RestrictedUnpickler(pickle.Unpickler):
    allowed: dict[tuple[str, str], Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            refused = f"it asks for {module}.{name}, which is refused"
            raise pickle.UnpicklingError(refused) from None


def safe_unpickle(path: Path, *, what: str) -> Any:
    """Reads a pickle that may hold only numpy arrays, lists, dicts, bytes and numbers.

    Args:
        path: The file.
        what: What the file should be, for messages ("a CIFAR batch file").

    Returns:
        The unpickled object; byte strings from Python 2 pickles stay bytes.

    Raises:
        ConfigError: Naming the file, if it is not a pickle or asks for any other name.
    """
    if not _RestrictedUnpickler.allowed:
        _RestrictedUnpickler.allowed = _allowed()
    try:
        with path.open("rb") as f:
            return _RestrictedUnpickler(f, encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        OverflowError,
    ) as exc:
        raise ConfigError(
            "",
            f"{what} (a pickled dict of numpy arrays and lists)",
            f"not {what}: {exc}",
            file=str(path),
        ) from None
