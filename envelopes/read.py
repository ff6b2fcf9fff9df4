"""Read a packet without checking its signature: the ``docnode unpack`` path.

``read_packet`` = :func:`envelopes.parser.parse` → :mod:`envelopes.schema` validation →
:func:`envelopes.edxml.decode`. It returns a value or raises an EnvelopeError. Lenient mode
(real VNPT traffic, spec/edxml.md §2.2–2.3) collects every repair and tolerance of the three
steps as warnings, in that order; nothing is printed.

A packet read here is NOT verified: use :func:`envelopes.packet.open_packet` for anything
that must be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from envelopes import schema
from envelopes.edxml import decode
from envelopes.limits import DEFAULT_LIMITS, Limits
from envelopes.model import Edoc, StatusMessage
from envelopes.parser import parse

__all__ = ["ReadPacket", "read_packet"]


@dataclass(frozen=True, slots=True)
class ReadPacket:
    """A decoded, schema-valid packet (signature NOT checked)."""

    packet: Edoc | StatusMessage
    """The decoded edoc or status packet."""
    warnings: tuple[str, ...]
    """What lenient mode repaired or tolerated (parser, schema, decoder); empty when strict."""
    root: etree._Element
    """The parsed tree, as parsed (lenient repairs of the parser included)."""


def read_packet(
    data: bytes, *, limits: Limits = DEFAULT_LIMITS, lenient: bool = False
) -> ReadPacket:
    """Parse, validate and decode ``data``; see the module docstring."""
    parsed = parse(data, limits=limits, lenient=lenient)
    if lenient:
        schema_warnings = schema.validate_lenient(parsed.root)
    else:
        schema.validate(parsed.root)
        schema_warnings = ()
    decoded = decode(parsed.root, limits=limits, lenient=lenient)
    return ReadPacket(
        packet=decoded.packet,
        warnings=parsed.warnings + schema_warnings + decoded.warnings,
        root=parsed.root,
    )
