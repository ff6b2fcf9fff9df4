"""Organisation identifiers (mã định danh, ``OrganId``) — spec/edxml.md §2.2.

Rules:

1. Strict (QĐ 20/2020/QĐ-TTg via QCVN 102:2016/SĐ1:2022): 1–35 characters, only ``A``–``Z``,
   ``0``–``9`` and ``.``. This is what we emit and what :meth:`OrganId.parse` accepts.
2. Legacy (QCVN 102:2016 before the amendment): the 13-character ``NNN.NN.NN.LDD`` form, e.g.
   ``000.00.00.G22``. Legacy codes are strict codes too; :attr:`OrganId.is_legacy` tells them
   apart for callers that must map them to post-2020 codes.
3. Lenient (real traffic, §2.2: ``vxp.saas.03``, ``28.22.H17``, ``999.010.01.H22``): a receiver
   must not hard-reject on format, so :meth:`OrganId.parse_lenient` also accepts lower-case
   letters, ``-`` and ``_`` and up to :data:`MAX_LENIENT_LENGTH` characters, strips surrounding
   whitespace, and returns what it tolerated as warnings (data, never printed). Anything else
   (empty, inner whitespace, control or non-ASCII characters) is refused in both modes.

An :class:`OrganId` can hold any lenient value; whether it is strict is a property.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from envelopes.errors import InvalidOrganId

MAX_LENGTH = 35
"""QĐ 20/2020 / SĐ1:2022 maximum length of an OrganId (was 13 in QCVN 102:2016)."""
LEGACY_LENGTH = 13
"""Length of the 2016 ``NNN.NN.NN.LDD`` form."""
MAX_LENIENT_LENGTH = 64
"""Longest identifier lenient mode tolerates (real traffic stays well below it)."""

_STRICT = re.compile(rf"[A-Z0-9.]{{1,{MAX_LENGTH}}}")
_LEGACY = re.compile(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}")
_LENIENT = re.compile(rf"[A-Za-z0-9._\-]{{1,{MAX_LENIENT_LENGTH}}}")
_BAD_CHAR = re.compile(r"[^A-Z0-9.]")


@dataclass(frozen=True, order=True, slots=True)
class OrganId:
    """An organisation identifier as it travels in ``OrganId`` elements (§2.2)."""

    value: str
    """The identifier text, exactly as sent."""

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or _LENIENT.fullmatch(self.value) is None:
            raise InvalidOrganId(_explain(self.value, lenient=True), element="OrganId")

    @classmethod
    def parse(cls, text: str, *, lenient: bool = False) -> OrganId:
        """Parse ``text``; strict unless ``lenient`` (then warnings are discarded — use
        :meth:`parse_lenient` to see them)."""
        if lenient:
            return cls.parse_lenient(text)[0]
        if not isinstance(text, str) or _STRICT.fullmatch(text) is None:
            raise InvalidOrganId(_explain(text, lenient=False), element="OrganId")
        return cls(text)

    @classmethod
    def parse_lenient(cls, text: str) -> tuple[OrganId, tuple[str, ...]]:
        """Parse what real traffic carries; returns the identifier and what was tolerated."""
        if not isinstance(text, str):
            raise InvalidOrganId(_explain(text, lenient=True), element="OrganId")
        warnings: list[str] = []
        stripped = text.strip()
        if stripped != text:
            warnings.append(f"OrganId {stripped!r}: surrounding whitespace removed")
        if _LENIENT.fullmatch(stripped) is None:
            raise InvalidOrganId(_explain(stripped, lenient=True), element="OrganId")
        if _STRICT.fullmatch(stripped) is None:
            warnings.append(f"OrganId {stripped!r} is not QĐ 20/2020 conformant: " + _why(stripped))
        return cls(stripped), tuple(warnings)

    @property
    def is_strict(self) -> bool:
        """True when the value follows QĐ 20/2020 (rule 1)."""
        return _STRICT.fullmatch(self.value) is not None

    @property
    def is_legacy(self) -> bool:
        """True for the 13-character QCVN 102:2016 ``NNN.NN.NN.LDD`` form (rule 2)."""
        return _LEGACY.fullmatch(self.value) is not None

    def __str__(self) -> str:
        return self.value


def _why(text: str) -> str:
    if len(text) > MAX_LENGTH:
        return f"{len(text)} characters, at most {MAX_LENGTH} are allowed"
    bad = sorted(set(_BAD_CHAR.findall(text)))
    return "characters " + ", ".join(repr(c) for c in bad) + " are not in A–Z, 0–9, '.'"


def _explain(text: object, *, lenient: bool) -> str:
    if not isinstance(text, str):
        return f"OrganId must be a string, got {type(text).__name__}"
    if not text:
        return "OrganId is empty (spec §2.2)"
    if lenient:
        if len(text) > MAX_LENIENT_LENGTH:
            return (
                f"OrganId {text[:MAX_LENIENT_LENGTH]!r}… is {len(text)} characters long "
                f"(even lenient mode accepts at most {MAX_LENIENT_LENGTH}; spec §2.2)"
            )
        return (
            f"OrganId {text!r} contains characters outside A–Z, a–z, 0–9, '.', '-', '_' (spec §2.2)"
        )
    return f"OrganId {text!r} is not valid under QĐ 20/2020 (spec §2.2): {_why(text)}"
