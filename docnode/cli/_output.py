"""Rendering for people (aligned tables) and for programs (one JSON document on stdout).

Every command that shows data offers both (DESIGN §9: ``--json`` beside the table).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, TextIO


def _default(value: object) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def print_json(data: object, *, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    json.dump(data, stream, ensure_ascii=False, indent=2, default=_default)
    stream.write("\n")


def print_pairs(pairs: Iterable[tuple[str, object]], *, out: TextIO | None = None) -> None:
    """Key/value lines, keys padded to one column; ``None``/empty values left out."""
    stream = out or sys.stdout
    rows = [(k, v) for k, v in pairs if v not in (None, "", (), [])]
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        stream.write(f"{key.ljust(width)}  {_cell(value)}\n")


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, out: TextIO | None = None
) -> None:
    stream = out or sys.stdout
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    stream.write("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    stream.write("\n")
    stream.write("  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        stream.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        stream.write("\n")


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)
