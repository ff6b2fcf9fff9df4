"""A minimal TOML writer for config documents (tomllib reads only). Private."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def render_toml(data: Mapping[str, Any]) -> str:
    """Minimal TOML writer for config documents: scalars and lists first, then sub-tables,
    then arrays of tables. Enough for what ``docnode init`` and ``peers add`` write."""
    lines: list[str] = []
    _render_table(lines, (), data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _render_table(lines: list[str], prefix: tuple[str, ...], table: Mapping[str, Any]) -> None:
    def is_table_array(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(i, Mapping) for i in v)

    for key, value in table.items():
        if not isinstance(value, Mapping) and not is_table_array(value):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in table.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{'.'.join(_toml_key(k) for k in (*prefix, key))}]"]
            _render_table(lines, (*prefix, key), value)
    for key, value in table.items():
        if is_table_array(value):
            for item in value:
                lines += ["", f"[[{'.'.join(_toml_key(k) for k in (*prefix, key))}]]"]
                _render_table(lines, (*prefix, key), item)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        escaped = "".join(c if c.isprintable() and c not in '"\\' else
                          (f"\\{c}" if c in '"\\' else f"\\u{ord(c):04x}") for c in value)
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
