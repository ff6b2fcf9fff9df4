"""Elements we do not model, kept verbatim so that re-serialising loses nothing (spec/edxml.md
§2.3.2 "parse-and-ignore"; rule 5 of :mod:`envelopes.model`).

The fragment is parsed once at construction with a hardened parser (no DTD, no entities, no
network) so that an ExtraElement is always well-formed XML.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from lxml import etree

from envelopes._checks import check_int, check_text
from envelopes.errors import InvalidField

_local = threading.local()


def fragment_parser() -> etree.XMLParser:
    """This thread's parser for fragments (lxml parsers must not be shared between threads).

    Hardened: no DTD loading, no entity expansion, no network; huge_tree because a fragment
    may carry a large text node taken from a packet that already passed the size limit."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
        )
    return parser


@dataclass(frozen=True, slots=True)
class ExtraElement:
    """An element we do not model, kept verbatim (serialised XML) with where it was."""

    parent: str
    """Path of the parent element, local names from the root, e.g.
    ``edXML/edXMLEnvelope/edXMLHeader/MessageHeader/OtherInfo``; repeated elements carry a
    0-based index after the first one (``To[1]`` is the second ``To``)."""
    index: int
    """Position among the parent's child elements."""
    xml: str
    """The element, serialised (namespace declarations included)."""

    def __post_init__(self) -> None:
        check_text("ExtraElement.parent", self.parent, required=True)
        check_int("ExtraElement.index", self.index)
        check_text("ExtraElement.xml", self.xml, required=True)
        try:
            element = etree.fromstring(self.xml.encode("utf-8"), parser=fragment_parser())
        except (etree.LxmlError, ValueError) as exc:
            raise InvalidField(
                f"is not a well-formed XML element: {exc}", element="ExtraElement.xml"
            ) from exc
        if getattr(element.getroottree().docinfo, "doctype", ""):
            raise InvalidField("must not carry a DOCTYPE", element="ExtraElement.xml")

    def element(self) -> etree._Element:
        """A fresh parsed copy of the fragment."""
        return etree.fromstring(self.xml.encode("utf-8"), parser=fragment_parser())


@dataclass(frozen=True, slots=True)
class ExtraAttribute:
    """An attribute on a modelled element that the model has no field for (``xlink:href`` on
    ``Reference``, ``id``/``version``/``mustUnderstand`` on ``TraceHeaderList``, §2.3.1)."""

    element: str
    """Path of the element carrying it (same form as :attr:`ExtraElement.parent`)."""
    name: str
    """Attribute name; namespaced ones in Clark notation ``{uri}local``."""
    value: str

    def __post_init__(self) -> None:
        check_text("ExtraAttribute.element", self.element, required=True)
        check_text("ExtraAttribute.name", self.name, required=True)
        check_text("ExtraAttribute.value", self.value)
        try:
            etree.QName(self.name)
        except ValueError as exc:
            raise InvalidField(
                f"{self.name!r} is not an attribute name", element="ExtraAttribute.name"
            ) from exc
