"""YAML in, validated pydantic models out, with errors that name the file and the key path."""

from __future__ import annotations

from pathlib import Path
import typing
from typing import Any
from typing import TypeVar

import pydantic
import yaml

from autokd._registry import closest
from autokd.exceptions import ConfigError
from autokd.exceptions import MissingFileError

__all__ = ["FrozenModel", "load_yaml", "parse_model"]

M = TypeVar("M", bound=pydantic.BaseModel)


class FrozenModel(pydantic.BaseModel):
    """Base of every config model: immutable, unknown keys are errors, defaults in one place."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", validate_default=True)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Reads a YAML mapping with ``yaml.safe_load`` (files are data, never code).

    Raises:
        MissingFileError: If the file does not exist.
        ConfigError: If it is not valid YAML or not a mapping at the top level.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: file not found (expected a YAML file).")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        got = f"bytes that are not UTF-8 text (at byte {exc.start})"
        raise ConfigError("", "a UTF-8 YAML text file", got, file=str(path)) from None
    except OSError as exc:
        raise ConfigError("", "a readable YAML file", _os_reason(exc), file=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise ConfigError("", "valid YAML", f"a syntax error at {where}", file=str(path)) from None
    except (ValueError, OverflowError) as exc:  # a timestamp such as 2024-13-45
        got = f"a value YAML cannot read ({str(exc).splitlines()[0] if str(exc) else exc!r})"
        raise ConfigError("", "valid YAML", got, file=str(path)) from None
    except RecursionError:  # deeply nested flow collections ("[[[[...")
        raise ConfigError("", "valid YAML", "nesting too deep to read", file=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError(
            "", "a YAML mapping at the top level", type(data).__name__, file=str(path)
        )
    return data


def _os_reason(exc: OSError) -> str:
    """``exc``'s reason on one line, without the path the caller names anyway."""
    return (exc.strerror or type(exc).__name__).splitlines()[0]


def parse_model(cls: type[M], data: Any, *, file: str, prefix: str = "") -> M:
    """Validates ``data`` into ``cls``; the first problem becomes one :class:`ConfigError`."""
    try:
        return cls.model_validate(data)
    except pydantic.ValidationError as exc:
        raise to_config_error(exc, cls, file=file, prefix=prefix) from None


def to_config_error(
    exc: pydantic.ValidationError, cls: type[pydantic.BaseModel], *, file: str, prefix: str = ""
) -> ConfigError:
    """Turns pydantic's first error into a ConfigError naming file, key path, expected and got."""
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "constrained-"))]
    key = ".".join(p for p in (prefix, *loc) if p)
    original = (err.get("ctx") or {}).get("error")
    if isinstance(original, ConfigError):
        return original.in_file(file, key)
    kind = err["type"]
    if kind == "extra_forbidden":
        fields = _fields_at(cls, loc[:-1])
        return ConfigError(
            key,
            f"one of the keys {', '.join(fields)}" if fields else "no such key",
            f"unknown key '{loc[-1]}'",
            file=file,
            hint=closest(loc[-1], fields).strip(),
        )
    if kind == "missing":
        return ConfigError(key, "a value (this key is required)", "nothing", file=file)
    expected = err["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
    return ConfigError(key, expected, repr(err.get("input")), file=file)


def _fields_at(cls: Any, loc: list[str]) -> list[str]:
    """The field names of the model found by walking ``loc`` from ``cls`` ([] if lost)."""
    for part in loc:
        cls = _model_in(cls)
        if cls is None:
            return []
        field = cls.model_fields.get(part)
        if field is not None:
            cls = field.annotation
        elif typing.get_origin(cls) is dict:
            continue
    model = _model_in(cls)
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The pydantic model inside an annotation such as ``X | None`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
