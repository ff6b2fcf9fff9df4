"""Typed access to one TOML table that records problems instead of raising (private)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from docnode.config.settings import HostPort

ORGAN_ID = re.compile(r"^[A-Z0-9.]{1,35}$")  # strict OrganId (spec §1.2, QĐ 20/2020)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")


class Reader:
    """Typed access to one TOML table that records problems instead of raising."""

    def __init__(self, table: Mapping[str, Any], where: str, base: Path,
                 problems: list[str]) -> None:
        self.table = table
        self.where = where
        self.base = base
        self.problems = problems
        self.used: set[str] = set()

    def problem(self, key: str, text: str) -> None:
        self.problems.append(f"{self.where} {key}: {text}" if self.where else f"{key}: {text}")

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.table:
            if required:
                self.problem(key, "required key is missing")
            return None
        return self.table[key]

    def _typed(self, key: str, check: Callable[[Any], bool], what: str, default: _T,
               required: bool = False) -> _T:
        value = self._get(key, required)
        if value is None:
            return default
        if not check(value):
            self.problem(key, f"expected {what}, got {value!r}")
            return default
        return cast(_T, value)  # checked by ``check`` above

    def section(self, name: str) -> Reader:
        value = self._get(name, False)
        if value is not None and not isinstance(value, dict):
            self.problem(name, "expected a table")
            value = None
        return Reader(value or {}, f"[{name}]", self.base, self.problems)

    def table_array(self, name: str) -> list[Reader]:
        value = self._get(name, False)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(name, "expected an array of tables ([[peers]])")
            return []
        return [Reader(v, f"[{name}][{i}]", self.base, self.problems)
                for i, v in enumerate(value)]

    def problems_for(self, key: str) -> bool:
        """Whether a problem was already recorded for ``key`` (avoid saying it twice)."""
        prefix = f"{self.where} {key}"
        return any(p.startswith(prefix) for p in self.problems)

    def finish(self) -> None:
        for key in self.table:
            if key not in self.used:
                if self.where:
                    self.problem(key, "unknown key")
                else:
                    self.problems.append(f"[{key}]: unknown section")

    def refuse_secret(self, key: str, instead: str) -> None:
        if self._get(key, False) is not None:
            self.problem(key, f"secrets must not be written in the config file; use {instead}")

    def string(self, key: str, *, default: str = "", required: bool = False) -> str:
        return self._typed(key, lambda v: isinstance(v, str), "a string", default, required)

    def boolean(self, key: str, *, default: bool) -> bool:
        return self._typed(key, lambda v: isinstance(v, bool), "true or false", default)

    def integer(self, key: str, *, default: int, minimum: int = 1) -> int:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        return self._typed(key, lambda v: type(v) is int and v >= minimum, what, default)

    def number(self, key: str, *, default: float) -> float:
        value = self._typed(
            key, lambda v: type(v) in (int, float) and math.isfinite(v) and v > 0,
            "a positive number", default)
        return float(value)

    def enum(self, key: str, cls: type[_E], default: _E) -> _E:
        allowed = " | ".join(f'"{m.value}"' for m in cls)
        raw = self._typed(key, lambda v: isinstance(v, str) and v in set(cls), allowed,
                          default.value)
        return cls(raw)

    def env_name(self, key: str) -> str | None:
        raw = self.string(key)
        if raw and not _ENV_NAME.match(raw):
            self.problem(key, f"expected an environment variable name, got {raw!r}")
        return raw or None

    def path(self, key: str, *, default: Path | None = None) -> Path | None:
        raw = self.string(key)
        return (self.base / Path(raw).expanduser()) if raw else default

    def paths(self, key: str, *, required: bool = False) -> tuple[Path, ...]:
        return tuple(self.base / Path(p).expanduser()
                     for p in self.str_list(key, required=required))

    def str_list(self, key: str, *, required: bool = False, pattern: re.Pattern[str] | None
                 = None, what: str = "a string") -> tuple[str, ...]:
        items: list[Any] = self._typed(
            key, lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
            "a list of strings", [], required)
        bad = [i for i in items if pattern is not None and not pattern.match(i)]
        for item in bad:
            self.problem(key, f"expected {what}, got {item!r}")
        return tuple(i for i in items if i not in bad)

    def organ_ids(self, key: str) -> tuple[str, ...]:
        ids = self.str_list(key, required=True, pattern=ORGAN_ID,
                            what="a strict OrganId (A-Z, 0-9 and '.', at most 35)")
        if key in self.table and isinstance(self.table[key], list) and not self.table[key]:
            self.problem(key, "at least one OrganId is required")
        return ids

    def organ_id(self, key: str) -> str:
        """One required strict OrganId."""
        return self._typed(key, lambda v: isinstance(v, str) and bool(ORGAN_ID.match(v)),
                           "a strict OrganId (A-Z, 0-9 and '.', at most 35)", "",
                           required=True)

    def str_map(self, key: str) -> dict[str, str]:
        return dict(self._typed(
            key, lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
            "a table of strings", {}))

    def organ_id_map(self, key: str) -> dict[str, tuple[str, ...]]:
        raw: dict[str, Any] = self._typed(key, lambda v: isinstance(v, dict),
                                          "a table", {})
        out: dict[str, tuple[str, ...]] = {}
        for fp, ids in raw.items():
            if not re.fullmatch(r"[0-9a-f]{64}", fp):
                self.problem(key, f"expected a lowercase SHA-256 fingerprint, got {fp!r}")
            elif not (isinstance(ids, list) and ids and
                      all(isinstance(i, str) and ORGAN_ID.match(i) for i in ids)):
                self.problem(key, f"{fp[:12]}…: expected a list of strict OrganIds")
            else:
                out[fp] = tuple(ids)
        return out

    def host_port(self, key: str, *, default: str) -> HostPort | None:
        raw = self._get(key, False)
        if raw is None:
            raw = default
        if raw == "":
            return None  # "" switches a listener off
        if not isinstance(raw, str):
            self.problem(key, f"expected HOST:PORT, got {raw!r}")
            return None
        try:
            return HostPort.parse(raw)
        except ValueError as exc:
            self.problem(key, f"{exc}, got {raw!r}")
            return None

    def url(self, key: str, *, required: bool = False,
            schemes: Iterable[str] = ("http", "https")) -> str:
        raw = self.string(key, required=required)
        if raw:
            self._check_url(key, raw, tuple(schemes))
        return raw

    def _check_url(self, key: str, raw: str, schemes: tuple[str, ...]) -> bool:
        try:
            parts = urlsplit(raw)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in schemes:
            self.problem(key, f"expected a {' or '.join(schemes)} URL, got {raw!r}")
            return False
        if parts.password:
            self.problem(key, f"the URL holds a password; use {key}_env instead")
            return False
        return True

    def url_or_env(self, key: str, environ: Mapping[str, str],
                   schemes: tuple[str, ...]) -> str | None:
        """``key`` (no password allowed) or ``key_env`` (an env var holding the URL)."""
        raw = self.string(key)
        env = self.env_name(f"{key}_env")
        if raw and env:
            self.problem(f"{key}_env", f"give {key} or {key}_env, not both")
            return None
        if env:
            if env not in environ:
                self.problem(f"{key}_env", f"environment variable {env} is not set")
                return None
            value = environ[env]
            if urlsplit(value).scheme not in schemes:
                self.problem(f"{key}_env", f"${env} is not a {' or '.join(schemes)} URL")
                return None
            return value
        if raw and self._check_url(key, raw, schemes):
            return raw
        return None
