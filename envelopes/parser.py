"""The ONE hardened XML parser of docnode: bytes in, an lxml tree out, or an EnvelopeError.

Every piece of XML that enters the process (packets, receipts, signatures handed to signxml)
is parsed here. Rules:

1. Size first: more than ``limits.max_packet_bytes`` raises :class:`TooLarge` before a single
   byte is parsed.
2. No DTD, ever: a ``<!DOCTYPE`` (or any other ``<!`` markup declaration) in the prolog raises
   :class:`ForbiddenXml` before parsing; the parsed document is checked again (internal or
   external DTD, entity reference nodes) in case the prolog was in another encoding.
3. No entity expansion, no network, no DTD loading or validation, no XInclude processing: the
   lxml parser is built with ``resolve_entities=False, no_network=True, load_dtd=False,
   dtd_validation=False``. XInclude elements and processing instructions (other than the XML
   declaration, which is not one) are refused, so nothing downstream can act on them.
4. ``huge_tree=True`` is on because attachments travel as one base64 text node and libxml2
   refuses text nodes over 10 MB otherwise; the size limit of rule 1 and the depth limit of
   rule 5 take over the job of libxml2's "huge" safety caps.
5. Depth: an element nested deeper than ``limits.max_depth`` raises :class:`TooDeep`. The check
   is done in C (one XPath step per level) and skipped when the document holds fewer ``<``
   than the limit, so it costs nothing on real packets of any size.
6. Any lxml failure becomes :class:`MalformedXml` (chained with ``from``), carrying its line.
7. Lenient mode (real VNPT traffic, spec/edxml.md §2.3 and the SDK samples): junk bytes before
   ``<?xml`` are stripped, and an undeclared ``xlink:`` (or ``edXML:``) prefix is declared on
   the document element for the parse. Each repair is reported in ``ParsedXml.warnings``;
   nothing else is relaxed.

The parser objects are per thread (lxml parsers must not be shared between threads); use
:func:`make_parser` to get one for another lxml consumer (signxml) so that it parses exactly
like we do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from lxml import etree

from .errors import ForbiddenXml, MalformedXml, TooDeep, TooLarge
from .limits import DEFAULT_LIMITS, Limits

XLINK_NS = "http://www.w3.org/1999/xlink"
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
#: Prefixes that real VNPT packets use without declaring them, and what they mean there.
LENIENT_PREFIXES = {"xlink": XLINK_NS, "edXML": EDXML_NS}
XINCLUDE_NAMESPACES = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")

_UTF8_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
#: How far into the data lenient mode looks for the XML declaration behind junk bytes.
_JUNK_WINDOW = 1024
#: libxml2's own nesting cap with XML_PARSE_HUGE; deeper documents fail inside libxml2.
_LIBXML2_HUGE_DEPTH = 2048
#: libxml2 error code for an undeclared namespace prefix (XML_NS_ERR_UNDEFINED_NAMESPACE).
_NS_ERR_UNDEFINED_NAMESPACE = 201


@dataclass(frozen=True, slots=True)
class ParsedXml:
    """A parsed document and what lenient mode had to repair to get it."""

    root: etree._Element
    """The document element."""
    warnings: tuple[str, ...] = ()
    """Human-readable notes on each lenient repair (empty in strict mode)."""


def make_parser() -> etree.XMLParser:
    """A new lxml parser with docnode's settings (see the module rules 3 and 4).

    The parser alone does not enforce the size, DOCTYPE, PI, XInclude and depth rules; use
    :func:`parse` for untrusted input and give this parser only to libraries that re-parse
    XML we already checked (signxml re-parses its own canonical output).
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,
        attribute_defaults=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=True,
        recover=False,
        # ID attributes are resolved by explicit lookups where needed, never via the DTD/ID table.
        collect_ids=False,
    )


_local = threading.local()


def thread_parser() -> etree.XMLParser:
    """This thread's cached :func:`make_parser` parser."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = make_parser()
        _local.parser = parser
    return parser


def parse(data: bytes, *, limits: Limits = DEFAULT_LIMITS, lenient: bool = False) -> ParsedXml:
    """Parse untrusted bytes into a checked tree; see the module rules.

    Returns a :class:`ParsedXml` or raises an :class:`~envelopes.errors.EnvelopeError`
    subclass (:class:`TooLarge`, :class:`ForbiddenXml`, :class:`TooDeep`,
    :class:`MalformedXml`); any other exception is a bug.
    """
    if not isinstance(data, bytes):
        raise MalformedXml(f"expected bytes, got {type(data).__name__}")
    if len(data) > limits.max_packet_bytes:
        raise TooLarge(
            f"document is {len(data)} bytes, the limit is {limits.max_packet_bytes} bytes"
        )
    warnings: list[str] = []
    if lenient:
        data, junk = _strip_leading_junk(data)
        if junk:
            warnings.append(f"lenient: ignored {junk} junk byte(s) before the XML declaration")
    root_start = check_prolog(data)
    declared: set[str] = set()
    while True:
        parser = make_parser() if lenient else thread_parser()
        try:
            root = _fromstring(data, parser)
            break
        except MalformedXml:
            # The parser's own log holds this parse only (the exception's may hold older ones).
            missing = _undeclared_known_prefixes(parser.error_log) - declared if lenient else set()
            if not missing:
                raise
            for prefix in sorted(missing):
                data = data[:root_start] + _declare_prefix(data[root_start:], prefix)
                warnings.append(
                    f"lenient: the undeclared '{prefix}:' prefix was read as "
                    f"{LENIENT_PREFIXES[prefix]}"
                )
            declared |= missing
    check_tree(root, data=data, limits=limits)
    return ParsedXml(root=root, warnings=tuple(warnings))


def check_prolog(data: bytes) -> int:
    """Refuse markup declarations and processing instructions before the document element.

    Returns the offset of the document element's ``<`` (or where scanning stopped, leaving
    the error to the parser). Only an ASCII-compatible prolog can be checked here; the tree
    check after parsing covers the rest.
    """
    i = decl_at = _decl_offset(data)
    n = len(data)
    while i < n:
        while i < n and data[i] in _WHITESPACE:
            i += 1
        if data.startswith(b"<?", i):
            end = data.find(b"?>", i + 2)
            if end < 0:
                return i
            if not (i == decl_at and _is_xml_decl(data, i)):
                raise ForbiddenXml("processing instructions are not allowed", line=_line(data, i))
            i = end + 2
        elif data.startswith(b"<!--", i):
            end = data.find(b"-->", i + 4)
            if end < 0:
                return i
            i = end + 3
        elif data.startswith(b"<!", i):
            raise ForbiddenXml(
                "DOCTYPE and other markup declarations are not allowed", line=_line(data, i)
            )
        else:
            return i
    return i


def check_tree(root: etree._Element, *, data: bytes, limits: Limits) -> None:
    """Rules 2, 3 and 5 on a parsed tree (``data`` are the bytes it was parsed from)."""
    docinfo = root.getroottree().docinfo
    doctype: str = getattr(docinfo, "doctype", "")  # missing from lxml-stubs
    dtds: tuple[object, object] = (docinfo.internalDTD, docinfo.externalDTD)
    if doctype or any(dtd is not None for dtd in dtds):
        raise ForbiddenXml("DOCTYPE declarations are not allowed")
    for sibling in (*root.itersiblings(preceding=True), *root.itersiblings()):
        if isinstance(sibling, etree._ProcessingInstruction):
            raise ForbiddenXml("processing instructions are not allowed", line=_sourceline(sibling))
    for node in root.iter(
        etree.Entity,
        etree.ProcessingInstruction,
        *(f"{{{ns}}}*" for ns in XINCLUDE_NAMESPACES),
    ):
        if isinstance(node, etree._Entity):
            raise ForbiddenXml("entity references are not allowed", line=_sourceline(node))
        if isinstance(node, etree._ProcessingInstruction):
            raise ForbiddenXml("processing instructions are not allowed", line=_sourceline(node))
        raise ForbiddenXml(
            "XInclude elements are not allowed", element=str(node.tag), line=_sourceline(node)
        )
    # A document cannot nest deeper than it has start tags; real packets have a few hundred.
    if data.count(b"<") > limits.max_depth and _deeper_than(root, limits.max_depth):
        raise TooDeep(f"elements nest deeper than the limit of {limits.max_depth}")


def _sourceline(node: etree._Element) -> int | None:
    # lxml-stubs types sourceline oddly; at runtime it is an int or None.
    return cast("int | None", node.sourceline)


def _fromstring(data: bytes, parser: etree.XMLParser) -> etree._Element:
    try:
        return etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        if "Excessive depth" in str(exc):
            raise TooDeep(
                f"elements nest deeper than libxml2's limit of {_LIBXML2_HUGE_DEPTH}",
                line=exc.lineno,
            ) from exc
        raise MalformedXml(f"not well-formed XML: {exc.msg}", line=exc.lineno) from exc
    except (etree.LxmlError, ValueError) as exc:
        raise MalformedXml(f"cannot parse XML: {exc}") from exc


def _deeper_than(root: etree._Element, max_depth: int) -> bool:
    if max_depth >= _LIBXML2_HUGE_DEPTH:
        return False  # libxml2 already refused anything deeper (TooDeep above)
    return bool(_depth_probe(max_depth + 1)(root))


@lru_cache(maxsize=8)
def _depth_expr(levels: int) -> str:
    return "boolean(/" + "/".join(["*"] * levels) + ")"


def _depth_probe(levels: int) -> etree.XPath:
    # Compiled XPath objects are not shared across threads, like the parsers.
    probes: dict[int, etree.XPath] | None = getattr(_local, "probes", None)
    if probes is None:
        probes = {}
        _local.probes = probes
    probe = probes.get(levels)
    if probe is None:
        probe = etree.XPath(_depth_expr(levels))
        probes[levels] = probe
    return probe


def _decl_offset(data: bytes) -> int:
    return len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0


def _is_xml_decl(data: bytes, i: int) -> bool:
    return data.startswith(b"<?xml", i) and data[i + 5 : i + 6] in (b" ", b"\t", b"\r", b"\n")


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _strip_leading_junk(data: bytes) -> tuple[bytes, int]:
    """Drop bytes before ``<?xml`` when they contain no markup (VNPT's ``1212<?xml ...``)."""
    start = _decl_offset(data)
    if data.startswith(b"<", start):
        return data, 0
    decl = data.find(b"<?xml", start, start + _JUNK_WINDOW)
    if decl < 0 or b"<" in data[start:decl]:
        return data, 0
    return data[decl:], decl


def _undeclared_known_prefixes(log: etree._ListErrorLog) -> set[str]:
    entries = cast(Iterable[etree._LogEntry], log)
    found: set[str] = set()
    for entry in entries:
        if entry.type != _NS_ERR_UNDEFINED_NAMESPACE:
            continue
        for prefix in LENIENT_PREFIXES:
            if entry.message.startswith(f"Namespace prefix {prefix} "):
                found.add(prefix)
    return found


def _declare_prefix(rest: bytes, prefix: str) -> bytes:
    """Declare ``prefix`` in the start tag at the head of ``rest`` (the document element)."""
    i = 1
    while i < len(rest) and rest[i] not in b" \t\r\n/>":
        i += 1
    decl = f' xmlns:{prefix}="{LENIENT_PREFIXES[prefix]}"'.encode()
    return rest[:i] + decl + rest[i:]
