"""Field checks shared by the model constructors (spec/edxml.md §2.3.6 and friends).

Every check raises :class:`InvalidField` naming the element; nothing else escapes.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from enum import IntEnum

from envelopes.errors import InvalidField
from envelopes.organ import OrganId

VN_TZ = timezone(timedelta(hours=7), "UTC+07:00")
"""Vietnam time (ICT): the zone edXML dates and timestamps are written in (§2.3.6)."""

_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def check_text(element: str, value: object, *, required: bool = False) -> None:
    """Rule 2 (and, with ``required``, non-empty) for one text field."""
    if not isinstance(value, str):
        raise InvalidField(f"must be text, got {type(value).__name__}", element=element)
    if required and not value.strip():
        raise InvalidField("is required and must not be empty (spec §2.3.2)", element=element)
    bad = _NOT_XML_TEXT.search(value) if value else None
    if bad is not None:
        raise InvalidField(
            f"contains character U+{ord(bad.group()):04X}, not allowed in XML 1.0 text "
            "(spec §2.3.6)",
            element=element,
        )


def check_int(element: str, value: object, *, low: int = 0, high: int = 10**9 - 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidField(f"must be an integer in {low}..{high}, got {value!r}", element=element)


def check_opt_int(element: str, value: object) -> None:
    if value is not None:
        check_int(element, value)


def check_date(element: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidField(f"must be a date (spec §2.3.6), got {value!r}", element=element)


def check_organ(element: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, OrganId):
        raise InvalidField(f"must be an OrganId (spec §2.2), got {value!r}", element=element)


def check_tuple(element: str, value: object, kind: type | tuple[type, ...]) -> None:
    if not isinstance(value, tuple):
        raise InvalidField(f"must be a tuple of {kind}", element=element)
    for item in value:  # a loop, not all(<generator>): most tuples here hold 0-2 items
        if not isinstance(item, kind):
            raise InvalidField(f"must be a tuple of {kind}", element=element)


def normalise_timestamp(element: str, value: object) -> datetime:
    """Rule 4: an aware datetime, converted to UTC+7, whole seconds."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidField(
            f"must be a timezone-aware datetime (spec §2.3.6), got {value!r}", element=element
        )
    try:
        return value.astimezone(VN_TZ).replace(microsecond=0)
    except (OverflowError, ValueError) as exc:
        raise InvalidField(f"is out of range in UTC+7: {value!r}", element=element) from exc


def set_field(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def check_enum(element: str, enum: type[IntEnum], value: object) -> IntEnum:
    try:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(value)
        return enum(value)
    except ValueError as exc:
        allowed = ", ".join(str(int(m)) for m in enum)
        raise InvalidField(
            f"must be one of {allowed} (spec §2.3.7), got {value!r}", element=element
        ) from exc
