"""The autokd error hierarchy.

Every error autokd raises on purpose derives from :class:`AutokdError`. Errors caused by user
input also inherit the matching built-in (``ValueError``, ``KeyError``, ``FileNotFoundError``)
so callers that catch those keep working. The CLI turns an :class:`AutokdError` into one line
on stderr and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "AutokdError",
    "ConfigError",
    "RegistryError",
    "MissingFileError",
    "TrialSetupError",
]


def _one_line(text: str) -> str:
    """``text`` with every character that is not printable escaped (``\\n``, ``\\x85``).

    A message names values from the user's files; a key holding a line break must not
    split the one-line error (``str.splitlines`` breaks at ``\\r``, ``\\x1e``, ``\\u2028``,
    ...), and control characters must not reach the terminal.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class AutokdError(Exception):
    """Base class of every error autokd raises on purpose; its message is one line."""

    def __str__(self) -> str:
        return _one_line(super().__str__())


class ConfigError(AutokdError, ValueError):
    """A config, search space or recipe holds a wrong key, type or value.

    The message reads ``FILE: KEY.PATH: expected X, but got Y. HINT`` so a user can fix the
    file without reading a traceback.

    Args:
        key: Dotted key path inside the file (``distill.alpha.start``), or ``""`` for the
            whole file.
        expected: What a valid value looks like.
        got: What was found (already formatted, usually with ``repr``).
        file: The file the value came from; may be filled in later with :meth:`in_file`.
        hint: Optional advice (the closest valid name, for example).
    """

    def __init__(
        self, key: str, expected: str, got: str, *, file: str | None = None, hint: str = ""
    ) -> None:
        self.key = key
        self.expected = expected
        self.got = got
        self.file = file
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        where = f"{self.file}: " if self.file else ""
        key = f"{self.key}: " if self.key else ""
        hint = f" {self.hint}" if self.hint else ""
        return f"{where}{key}expected {self.expected}, but got {self.got}.{hint}"

    def in_file(self, file: str, prefix: str = "") -> ConfigError:
        """Returns a copy located in ``file``, with ``prefix`` prepended to the key path."""
        key = ".".join(p for p in (prefix, self.key) if p)
        return ConfigError(key, self.expected, self.got, file=self.file or file, hint=self.hint)


class RegistryError(AutokdError, KeyError):
    """A name is not registered, or registered twice."""

    def __str__(self) -> str:  # KeyError would add quotes around the message.
        return _one_line(str(self.args[0])) if self.args else ""


class MissingFileError(AutokdError, FileNotFoundError):
    """A file the user named (study, search space, recipe, checkpoint, dataset) is missing."""

    def __str__(self) -> str:
        return _one_line(str(self.args[0])) if self.args else ""


class TrialSetupError(AutokdError, RuntimeError):
    """One trial's recipe cannot run (for example a layer pair whose shapes do not fit).

    The study records that trial as failed with this message and goes on.
    """
