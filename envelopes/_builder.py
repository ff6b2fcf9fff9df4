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
"""

from __future__ import annotations

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


def _render(node: Node, level: int, out: list[str | bytes], *, payloads: bool) -> None:
    tag = node.tag
    if node.payload is not None and payloads:
        out += (f"<{tag}{node.attrs}>", node.payload, f"</{tag}>")
    elif node.children:
        out.append(f"<{tag}{node.attrs}>")
        inner = "\n" + "  " * (level + 1)
        for child in node.children:
            out.append(inner)
            _render(child, level + 1, out, payloads=payloads)
        out.append("\n" + "  " * level + f"</{tag}>")
    elif node.text:
        out.append(f"<{tag}{node.attrs}>{_escape(node.text)}</{tag}>")
    else:
        out.append(f"<{tag}{node.attrs}/>")


def _join(out: list[str | bytes]) -> bytes:
    chunks: list[bytes] = [_DECLARATION]
    pending: list[str] = []
    for item in out:
        if isinstance(item, str):
            pending.append(item)
        else:
            chunks.append("".join(pending).encode("utf-8"))
            pending = []
            chunks.append(item)
    chunks.append("".join(pending).encode("utf-8"))
    return b"".join(chunks)


def serialise(
    root: Node,
    extra: tuple[ExtraElement, ...] = (),
    attributes: tuple[ExtraAttribute, ...] = (),
) -> bytes:
    """Rules 1–3."""
    out: list[str | bytes] = []
    if not (extra or attributes):
        _render(root, 0, out, payloads=True)
        return _join(out)
    _render(root, 0, out, payloads=False)
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
