"""The single generic registry behind LOSSES, MODELS, DATASETS and SCHEDULES."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import difflib
import fnmatch
import inspect
from typing import Generic
from typing import TypeVar

from autokd.exceptions import RegistryError

__all__ = ["Registry", "closest"]

T = TypeVar("T")


def closest(name: str, names: list[str] | tuple[str, ...]) -> str:
    """Returns a " Did you mean 'x'?" hint, or "" when nothing is close."""
    match = difflib.get_close_matches(name, list(names), n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


class Registry(Generic[T]):
    """Maps snake_case names to builders (classes or functions) of one kind.

    Args:
        kind: What the entries are, in the singular ("loss", "model"); used in messages.
        hidden_params: Parameters every entry takes that ``describe`` leaves out (those the
            engine fills in, such as a model's ``in_channels``).

    Example:
        >>> SCHEDULES = Registry("schedule")
        >>> @SCHEDULES.register("constant")
        ... class ConstantSchedule: ...
        >>> SCHEDULES.get("constant").__name__
        'ConstantSchedule'
    """

    def __init__(self, kind: str, *, hidden_params: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.hidden_params = hidden_params
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Returns a decorator that registers its argument under ``name``.

        Raises:
            RegistryError: If ``name`` is taken or is not snake_case.
        """
        if not name or name != name.lower() or not name.replace("_", "").isalnum():
            raise RegistryError(f"{self.kind} name must be snake_case, but got {name!r}.")

        def decorator(obj: T) -> T:
            if name in self._entries:
                raise RegistryError(f"{self.kind} '{name}' is already registered.")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Returns the entry registered as ``name``.

        Raises:
            RegistryError: If nothing is registered under ``name``; the message lists the
                registered names and the closest one.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise RegistryError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        """The message for an unknown ``name``: what exists and what is closest."""
        names = self.list()
        hint = closest(name, names) if isinstance(name, str) else ""
        return f"unknown {self.kind} {name!r}; registered: {', '.join(names)}.{hint}"

    def list(self, pattern: str = "*") -> list[str]:
        """Returns the sorted names that match the fnmatch ``pattern``."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def describe(self, name: str) -> str:
        """One line: the entry's parameters with defaults and the first line of its docstring."""
        obj = self.get(name)
        try:
            signature = inspect.signature(obj)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            signature = None
        params = []
        for p in signature.parameters.values() if signature else ():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in self.hidden_params:
                continue
            params.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
        doc = (inspect.getdoc(obj) or "").strip().splitlines()
        extras = [f"[{obj.kind}]"] if isinstance(getattr(obj, "kind", None), str) else []
        if getattr(obj, "projectors", None):
            extras.append(f"projectors: {', '.join(obj.projectors)}")
        summary = " ".join([*extras, doc[0] if doc else ""])
        line = f"{name}({', '.join(params)})  {summary}".rstrip()
        ranges = getattr(obj, "search_defaults", None)
        if isinstance(ranges, dict) and ranges:
            line += "\n      search: " + ", ".join(f"{k} {_range(d)}" for k, d in ranges.items())
        knobs = getattr(obj, "knobs", None)  # a model family's legal width and depth
        if isinstance(knobs, dict) and knobs:
            line += "\n      knobs: " + "; ".join(f"{k} {v}" for k, v in knobs.items())
        return line

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._entries)


def _range(dist: dict) -> str:
    """``0.1..100 log`` or ``{a|b}``: a search-space distribution in a few characters."""
    if dist.get("type") == "categorical":
        return "{" + "|".join(str(c) for c in dist.get("choices", ())) + "}"
    text = f"{dist.get('low'):g}..{dist.get('high'):g}"
    return text + (" log" if dist.get("log") else "")
