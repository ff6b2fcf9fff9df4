"""Column types shared by the tables.

Rules: every timestamp is timezone-aware UTC in Python; SQLite holds it as naive UTC text in
SQLAlchemy's fixed-width format, so ``<=`` between stored values and bound parameters orders
correctly (the queue's claim query relies on it). A naive datetime handed to the store is a
bug and is refused. Enum columns hold the enum's *value* (not its name) in a VARCHAR, so raw
SQL, PostgreSQL and reports all read the same text.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.types import TypeDecorator

_E = TypeVar("_E", bound=StrEnum)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite keeps no zone: store naive UTC so that text comparison orders by time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StrEnumType(TypeDecorator[_E], Generic[_E]):
    """A StrEnum stored as its value in a VARCHAR (no CHECK, no native ENUM: adding a value
    needs no migration on any backend)."""

    impl = String(24)
    cache_ok = True

    def __init__(self, enum: type[_E]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: _E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> _E | None:
        return None if value is None else self.enum(value)


def canonical_json(value: Any) -> str:
    """The one JSON form used for stored evidence and for hashing it: sorted keys, no spaces,
    UTF-8 text kept as is. Besides JSON's own types, enums become their value and dates and
    datetimes ISO-8601 text (datetimes in UTC), so callers may pass them as they are."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_json_default)


def _json_default(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime in evidence; use an aware datetime")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON evidence")
