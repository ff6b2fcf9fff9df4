"""A small element builder for the encoder, rendered straight to UTF-8 bytes (§2.3.1).

Rules:

1. The output is byte-for-byte what lxml writes for the same tree after
   ``etree.indent(tree, space="  ")`` and ``etree.tostring(tree, encoding="UTF-8")``: two-space
   indentation, ``<x/>`` for an element without text or children, text escaped as lxml does
   (``&amp;``, ``&lt;``, ``&gt;``, ``&#13;``). Building lxml elements costs several µs each
   (namespace lookups up the tree); strings cost a fraction, and a header has ~100 elements.
2. Attachment payloads (base64 bytes, the bulk of a large packet) are spliced in as bytes,
   never copied into a tree or a str.
3. Packets carrying elements or attributes kept from a lenient read (ExtraElement /
   ExtraAttribute) are rendered with empty payload elements, parsed back with a hardened
   parser, completed with lxml, serialised, and the payloads spliced in; if a payload element
   cannot be found exactly once each (an extra holding the same markup), the payloads go
   through the tree instead.
4. Signing without parsing (:func:`prepare`, packets without extras): the same walk renders
   the exclusive C14N of the tree alongside (no declaration, ``<x></x>`` for empty elements,
   CR as ``&#xD;``; the namespace declarations we write are already exactly those C14N
   keeps), with the enveloped-signature view of the slot: the Signature goes on its own line
   after the slot node's last child, so the digest sees that indentation followed by the
   closing one. Payloads are hashed where they are, never copied. The tests hold the digest
   to lxml's C14N of the parsed bytes and the result to ``signature.sign`` of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lxml import etree

from envelopes import _wire as w
from envelopes._extra import fragment_parser
from envelopes.errors import InvalidField
from envelopes.model import ExtraAttribute, ExtraElement

_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_PAYLOAD = f"{w.PREFIX}:ContentTransferEncoded"
_PAYLOAD_NS = f' xmlns:{w.PREFIX}="{w.NS}"'
_EMPTY_PAYLOAD = f"<{_PAYLOAD}{_PAYLOAD_NS}/>".encode()
_PAYLOAD_OPEN = f"<{_PAYLOAD}{_PAYLOAD_NS}>".encode()
_PAYLOAD_CLOSE = f"</{_PAYLOAD}>".encode()


class Node:
    """One element to be written: qualified name, rendered attributes, text or children."""

    __slots__ = ("attrs", "children", "payload", "prefix", "tag", "text")

    def __init__(self, prefix: str, name: str, attrs: str = "") -> None:
        self.prefix = prefix
        self.tag = prefix + name
        self.attrs = attrs
        self.text: str | None = None
        self.children: list[Node] = []
        self.payload: bytes | None = None

    def sub(self, name: str, attrs: str = "") -> Node:
        """A child in the same prefix (``edXML:`` inside the envelope, none outside)."""
        child = Node(self.prefix, name, attrs)
        self.children.append(child)
        return child

    def payload_child(self, payload: bytes) -> None:
        """``edXML:ContentTransferEncoded`` with its own namespace declaration (VNPT SDK)."""
        child = Node(f"{w.PREFIX}:", "ContentTransferEncoded", _PAYLOAD_NS)
        child.payload = payload
        self.children.append(child)


def root_node() -> tuple[Node, Node]:
    """``edXML`` (default namespace) and its ``edXML:edXMLEnvelope`` child."""
    root = Node("", "edXML", f' xmlns="{w.NS}"')
    envelope = Node(f"{w.PREFIX}:", "edXMLEnvelope", f' xmlns:{w.PREFIX}="{w.NS}"')
    root.children.append(envelope)
    return root, envelope


def _escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


_PAYLOAD_MARK = "\x00"
_SLOT_MARK = "\x01"
"""Stand-ins for a payload and for the signature slot in a rendering: characters XML text
cannot hold (the models refuse them, spec §2.3.6), so they never occur otherwise, and each
encodes to one byte of its own."""


def _render(
    node: Node,
    level: int,
    out: list[str],
    payloads: list[bytes] | None,
    *,
    canon: list[str] | None = None,
    slot: Node | None = None,
) -> None:
    """Rule 1 into ``out``, and rule 4 into ``canon`` if given. With ``payloads``, each
    payload goes there and :data:`_PAYLOAD_MARK` into the text; :data:`_SLOT_MARK` marks
    (in ``out``) the end of ``slot``'s children, on a line of its own like a child."""
    tag = node.tag
    if node.payload is not None and payloads is not None:
        piece = f"<{tag}{node.attrs}>{_PAYLOAD_MARK}</{tag}>"
        payloads.append(node.payload)
    elif node.children or node is slot:
        piece = f"<{tag}{node.attrs}>"
        out.append(piece)
        if canon is not None:
            canon.append(piece)
        inner = "\n" + "  " * (level + 1)
        for child in node.children:
            out.append(inner)
            if canon is not None:
                canon.append(inner)
            _render(child, level + 1, out, payloads, canon=canon, slot=slot)
        if node is slot:
            out += (inner, _SLOT_MARK)
            if canon is not None:
                canon.append(inner)
        piece = "\n" + "  " * level + f"</{tag}>"
    elif node.text:
        escaped = _escape(node.text)
        piece = f"<{tag}{node.attrs}>{escaped}</{tag}>"
        if canon is not None and "&#13;" in escaped:  # C14N writes CR as &#xD;
            out.append(piece)
            canon.append(f"<{tag}{node.attrs}>{escaped.replace('&#13;', '&#xD;')}</{tag}>")
            return
    else:
        out.append(f"<{tag}{node.attrs}/>")
        if canon is not None:
            canon.append(f"<{tag}{node.attrs}></{tag}>")  # C14N: no empty-element tags
        return
    out.append(piece)
    if canon is not None:
        canon.append(piece)


def _with_payloads(text: str, payloads: list[bytes]) -> list[bytes]:
    """``text`` as UTF-8 chunks, each :data:`_PAYLOAD_MARK` replaced by the next payload."""
    pieces = text.split(_PAYLOAD_MARK)
    if len(pieces) != len(payloads) + 1:  # pragma: no cover - the models refuse U+0000
        raise InvalidField("a text holds U+0000", element="edXML")
    chunks = [pieces[0].encode()]
    for payload, piece in zip(payloads, pieces[1:], strict=True):
        chunks += (payload, piece.encode())
    return chunks


def _join(out: list[str], payloads: list[bytes] | None = None) -> bytes:
    return b"".join([_DECLARATION, *_with_payloads("".join(out), payloads or [])])


def serialise(
    root: Node,
    extra: tuple[ExtraElement, ...] = (),
    attributes: tuple[ExtraAttribute, ...] = (),
) -> bytes:
    """Rules 1–3."""
    out: list[str] = []
    if not (extra or attributes):
        inline: list[bytes] = []
        _render(root, 0, out, inline)
        return _join(out, inline)
    _render(root, 0, out, None)
    payloads = [n.payload for n in _walk(root) if n.payload is not None]
    tree = etree.fromstring(_join(out), parser=fragment_parser())
    _insert_extra(tree, extra, attributes)
    data = etree.tostring(tree, encoding="UTF-8", xml_declaration=False)
    parts = data.split(_EMPTY_PAYLOAD)
    if len(parts) != len(payloads) + 1:
        holders = tree.iter(w.qname("ContentTransferEncoded"))
        targets = [el for el in holders if w.local_name(el.getparent()) == "Attachment"]  # type: ignore[arg-type]
        for element, payload in zip(targets, payloads, strict=True):
            element.text = payload.decode("ascii")
        return _DECLARATION + etree.tostring(tree, encoding="UTF-8", xml_declaration=False)
    del data
    chunks = [_DECLARATION, parts[0]]
    for payload, tail in zip(payloads, parts[1:], strict=True):
        chunks += (_PAYLOAD_OPEN, payload, _PAYLOAD_CLOSE, tail)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A packet ready to be signed (rule 4): its bytes around the signature slot, and the
    SHA-256 of its exclusive C14N as the enveloped-signature transform will see it."""

    before: bytes
    """Everything up to the slot, including the indentation the Signature goes after."""
    after: bytes
    """Everything after the slot."""
    indent: int
    """How many bytes at the end of ``before`` only the signed packet carries."""
    digest: bytes

    def unsigned(self) -> bytes:
        """The packet without a Signature, exactly as :func:`serialise` writes it."""
        return b"".join((memoryview(self.before)[: len(self.before) - self.indent], self.after))

    def signed(self, signature: bytes) -> bytes:
        """The packet with ``signature`` (a canonical ``ds:Signature``) in the slot."""
        return b"".join((self.before, signature, self.after))


def prepare(root: Node, slot: Node) -> Prepared:
    """Rule 4 for a packet without extras: ``slot`` is the node whose last child the
    Signature becomes (``edXMLHeader``)."""
    out: list[str] = []
    canon: list[str] = []
    payloads: list[bytes] = []
    _render(root, 0, out, payloads, canon=canon, slot=slot)
    head, _, tail = "".join(out).partition(_SLOT_MARK)
    marks_before = head.count(_PAYLOAD_MARK)
    hasher = hashlib.sha256()
    for chunk in _with_payloads("".join(canon), payloads):
        hasher.update(chunk)
    return Prepared(
        before=b"".join([_DECLARATION, *_with_payloads(head, payloads[:marks_before])]),
        after=b"".join(_with_payloads(tail, payloads[marks_before:])),
        indent=len(head) - len(head.rstrip("\n ")),  # the slot's line: newline and spaces
        digest=hasher.digest(),
    )


def _walk(node: Node) -> list[Node]:
    found = [node]
    for child in node.children:
        found.extend(_walk(child))
    return found


def _insert_extra(
    root: etree._Element,
    extra: tuple[ExtraElement, ...],
    attributes: tuple[ExtraAttribute, ...],
) -> None:
    by_path = {w.path_of(el): el for el in root.iter(w.qname("*"))}
    for attribute in attributes:
        target = by_path.get(attribute.element)
        if target is None:
            raise InvalidField(
                f"attribute kept from a received packet has no element {attribute.element!r} "
                "in this packet",
                element="ExtraAttribute.element",
            )
        target.set(attribute.name, attribute.value)
    # Insert in ascending index per parent so that each lands where it was read.
    for item in sorted(extra, key=lambda e: (e.parent, e.index)):
        parent = by_path.get(item.parent)
        if parent is None:
            raise InvalidField(
                f"unknown element kept from a received packet has no parent {item.parent!r} "
                "in this packet",
                element="ExtraElement.parent",
            )
        kids = list(parent)
        at = min(item.index, len(kids))
        el = item.element()
        if kids and at == len(kids):
            el.tail, kids[-1].tail = kids[-1].tail, parent.text
        elif kids:
            el.tail = parent.text if at == 0 else kids[at - 1].tail
        parent.insert(at, el)
