"""XSD validation of edXML packets (spec/edxml.md §2.3–2.4; the XSDs sit next to this file).

Rules:

1. The packet kind (edoc or status, :func:`envelopes.edxml.packet_kind`) picks ``edoc.xsd`` or
   ``status.xsd``; both use the types of ``common.xsd``, which allow exactly one
   ``ds:Signature`` (or VNPT's default-namespace ``Signature``) as the last child of
   ``edXMLHeader`` (the XSD admits one XML-DSig element there; its name is checked here).
2. The schemas are read from the package (importlib.resources) with a hardened parser (no
   network, no DTD, no entities) and ``common.xsd`` is merged in here: nothing is included,
   imported or resolved by libxml2. They are read once per process and compiled once per
   thread (an lxml validator keeps per-object state, so threads do not share one).
3. :func:`validate` is strict: the first error raises :class:`SchemaInvalid` naming the element
   (path) and the line.
4. :func:`validate_lenient` validates a normalised COPY (the caller's tree is untouched) and
   returns what it had to overlook as warnings: undeclared ``edXML:`` prefixes, children out of
   VNPT order, unknown elements (the decoder keeps those as extras).
"""

from __future__ import annotations

import copy
import threading
from functools import cache
from importlib import resources

from lxml import etree

from envelopes import _wire as w
from envelopes._decode import PacketKind, packet_kind
from envelopes.errors import SchemaInvalid

__all__ = ["validate", "validate_lenient"]

_XS = "http://www.w3.org/2001/XMLSchema"


_local = threading.local()
_COMPILING = threading.Lock()
"""libxml2's schema compiler is not safe to run in two threads at once (the first compile
sets up global tables): several threads compiling their first schema together failed with
"Document is not valid XML Schema", or crashed the process. Compiles are rare (one per kind
and thread), so they simply take turns."""


def _schema(kind: PacketKind) -> etree.XMLSchema:
    """This thread's compiled schema (lxml validators keep an error log: not shared)."""
    cached: dict[PacketKind, etree.XMLSchema] | None = getattr(_local, "schemas", None)
    if cached is None:
        cached = _local.schemas = {}
    schema = cached.get(kind)
    if schema is None:
        with _COMPILING:
            schema = cached[kind] = _compile(kind)
    return schema


@cache
def _source(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def _compile(kind: PacketKind) -> etree.XMLSchema:
    """``<kind>.xsd`` with the definitions of ``common.xsd`` merged in (rule 2)."""
    doc = etree.fromstring(_source(f"{kind.value}.xsd"), parser=_xsd_parser())
    common = etree.fromstring(_source("common.xsd"), parser=_xsd_parser())
    for definition in common:
        if isinstance(definition.tag, str) and definition.tag.startswith(f"{{{_XS}}}"):
            doc.append(definition)
    return etree.XMLSchema(doc)


def _xsd_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False
    )


def validate(root: etree._Element) -> None:
    """Rule 3: raise :class:`SchemaInvalid` unless ``root`` is a valid edoc/status packet."""
    schema = _schema(packet_kind(root))
    try:
        schema.assertValid(root)
    except etree.DocumentInvalid as exc:
        errors = list(exc.error_log)  # type: ignore[call-overload]
        if not errors:
            raise SchemaInvalid(f"schema validation failed: {exc}") from exc
        first = errors[0]
        raise SchemaInvalid(
            first.message, element=first.path or None, line=first.line or None
        ) from exc
    _check_signature_name(root)


def _check_signature_name(root: etree._Element) -> None:
    """The XSD admits one element of the XML-DSig namespace at the end of edXMLHeader."""
    envelope = next(root.iterchildren(w.qname("edXMLEnvelope")), None)
    header = None if envelope is None else next(envelope.iterchildren(w.qname("edXMLHeader")), None)
    if header is None:
        return
    for child in header.iterchildren(f"{{{w.DS_NS}}}*"):
        if child.tag != f"{{{w.DS_NS}}}Signature":
            raise SchemaInvalid(
                "only ds:Signature may follow the header",
                element=str(child.tag),
                line=w.line_of(child),
            )


# --- lenient normalisation (rule 4) ---------------------------------------------------------

_ORDERS: dict[str, tuple[str, ...]] = {
    "edXML": ("edXMLEnvelope", "AttachmentEncoded"),
    "edXMLEnvelope": ("edXMLHeader", "edXMLBody"),
    "edXMLHeader": ("MessageHeader", "TraceHeaderList", "Signature"),
    "edXMLBody": ("edXMLManifest",),
    "From": w.ORGANIZATION,
    "To": w.ORGANIZATION,
    "PromulgationInfo": w.PROMULGATION_INFO,
    "DocumentType": w.DOCUMENT_TYPE,
    "SignerInfo": w.SIGNER_INFO,
    "OtherInfo": w.OTHER_INFO,
    "ResponseFor": w.RESPONSE_FOR,
    "TraceHeaderList": w.TRACE_HEADER_LIST,
    "TraceHeader": w.TRACE_HEADER,
    "Bussiness": w.BUSINESS,
    "BussinessDocumentInfo": w.BUSINESS_DOCUMENT_INFO,
    "Receiver": w.RECEIVER,
    "ReplacementInfo": w.REPLACEMENT_INFO,
    "StaffInfo": w.STAFF_INFO,
    "Reference": w.REFERENCE,
    "Attachment": w.ATTACHMENT,
    "ToPlaces": ("Place",),
    "Appendixes": ("Appendix",),
    "ReceiverList": ("Receiver",),
    "ReplacementInfoList": ("ReplacementInfo",),
    "OrganIdList": ("OrganId",),
    "edXMLManifest": ("Reference",),
    "AttachmentEncoded": ("Attachment",),
}

_SEQUENCES = frozenset(
    {"edXML", "edXMLEnvelope", "edXMLHeader", "MessageHeader", "TraceHeaderList", "Bussiness"}
)
"""Containers whose children the schema orders (the others are xs:all or lists)."""


def validate_lenient(root: etree._Element) -> tuple[str, ...]:
    """Rule 4: validate a normalised copy; returns the warnings."""
    warnings: list[str] = []
    kind = packet_kind(root)
    work = copy.deepcopy(root)
    _fix_prefixes(work, warnings)
    header = w.MESSAGE_HEADER_STATUS if kind is PacketKind.STATUS else w.MESSAGE_HEADER_EDOC
    _normalise(work, "edXML", header, warnings)
    validate(work)
    return tuple(warnings)


def _fix_prefixes(root: etree._Element, warnings: list[str]) -> None:
    count = 0
    for el in root.iter():
        tag: object = el.tag
        if isinstance(tag, str) and tag.startswith(w.PREFIX + ":"):
            el.tag = w.qname(tag[len(w.PREFIX) + 1 :])
            count += 1
    if count:
        warnings.append(f"schema: {count} element(s) with an undeclared 'edXML:' prefix read in NS")


def _normalise(
    el: etree._Element,
    name: str,
    header: tuple[str, ...],
    warnings: list[str],
    parent: str = "",
) -> None:
    if name == "MessageHeader":
        order: tuple[str, ...] | None = header
    elif name == "Code":
        order = w.CODE if parent == "MessageHeader" else None  # ResponseFor/Code is text
    else:
        order = _ORDERS.get(name)
    if order is None:
        return
    known: list[tuple[int, etree._Element]] = []
    for child in list(el):
        tag: object = child.tag
        if not isinstance(tag, str):
            continue
        local = "Signature" if w.is_signature(child) else w.local_name(child)
        if local is None or local not in order:
            warnings.append(
                f"schema: unknown element {tag!r} under {name} (line {w.line_of(child)}) "
                "not validated"
            )
            el.remove(child)
            continue
        known.append((order.index(local), child))
    ranked = sorted(known, key=lambda pair: pair[0])
    if name in _SEQUENCES and [c for _, c in ranked] != [c for _, c in known]:
        warnings.append(
            f"schema: children of {name} (line {w.line_of(el)}) are not in VNPT order; "
            "validated in that order"
        )
        for _, child in ranked:
            el.append(child)  # moving in rank order restores the sequence
    for _, child in ranked:
        local = w.local_name(child)
        if local is not None and local != "Signature":
            _normalise(child, local, header, warnings, name)
