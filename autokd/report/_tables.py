"""Markdown table cells and tables, shared by the report's sections."""

from __future__ import annotations

from collections.abc import Iterable
import math

__all__ = ["format_value", "markdown_table"]


def format_value(value: object) -> str:
    """Formats one table cell: floats to 6 significant digits, ``|`` escaped."""
    if isinstance(value, float):
        text = "-" if math.isnan(value) else f"{value:.6g}"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    """The lines of a Markdown table: header, separator, one line per row."""
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(format_value(cell) for cell in row) + " |" for row in rows]
    return lines
