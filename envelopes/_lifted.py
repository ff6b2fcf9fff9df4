"""Big attachment texts taken from the packet's bytes, never copied into a tree or a str.

A 50 MB packet is one 50 MB base64 text. Parsed, it is 50 MB more in libxml2; read from the
tree (:mod:`envelopes._canonical`), 50 MB more as a Python str for a moment. Signing and
verifying only need the text's canonical bytes, and those are the packet's own bytes:

1. :func:`lift`: each text of at least :data:`BIG_TEXT` bytes that directly follows a tag
   naming ``ContentTransferEncoded`` and runs to the next ``<`` is replaced by a marker, if
   it holds only the base64 alphabet, space, tab and LF. Such bytes are character data that
   the parser passes through unchanged (no references, no CR to normalise, no markup) and
   that C14N writes unchanged (nothing to escape). The rest of the packet (a few KB) is
   parsed as usual: same structure, same checks; only those texts differ.
2. :func:`pieces`: the exclusive C14N of that small tree with each marker replaced by its
   span of the packet, as views. This holds only if each marker is the whole text of one
   element without children and occurs once in the document (not in a comment, a tail, an
   attribute); otherwise None, and the caller parses the whole packet instead. The output is
   then exactly the C14N of the whole packet's tree, and the tests compare the two.
3. :func:`tree_of`: the tree of such pieces, fed to one of our parsers in 1 MiB chunks, so
   the canonical document never exists as one bytes object either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from ._canonical import BIG_TEXT
from .parser import make_parser

_TAG = b"ContentTransferEncoded"
_PLAIN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\n"
_CHUNK = 1 << 20

Piece = bytes | memoryview


@dataclass(frozen=True, slots=True)
class Lifted:
    """A packet with its big texts lifted out (rule 1)."""

    small: bytes
    """The packet with each text replaced by its marker."""
    spans: tuple[tuple[int, int], ...]
    """Where each text sits in the packet (start, end), in order."""
    markers: tuple[str, ...]


def lift(data: bytes, *, max_texts: int) -> Lifted | None:
    """Rule 1, or None when ``data`` holds no such text (or looks for more than
    ``max_texts`` candidates: the caller's limits refuse such a packet anyway)."""
    spans: list[tuple[int, int]] = []
    seen, position = 0, 0
    while (position := data.find(_TAG, position)) >= 0:
        seen += 1
        if seen > 2 * max_texts + 2:  # a start and an end tag per attachment
            return None
        start = data.find(b">", position) + 1
        end = data.find(b"<", start) if start else -1
        if end < 0:
            break
        if end - start >= BIG_TEXT and _plain(data, start, end):
            spans.append((start, end))
        position = max(end, position + len(_TAG))
    if not spans:
        return None
    markers = tuple(f"docnode-lifted-text-{i}-of-{len(spans)}" for i in range(len(spans)))
    if any(data.find(m.encode()) >= 0 for m in markers):
        return None  # the packet holds a marker's text already
    parts: list[bytes] = []
    previous = 0
    for (start, end), marker in zip(spans, markers, strict=True):
        parts += (data[previous:start], marker.encode())
        previous = end
    parts.append(data[previous:])
    return Lifted(small=b"".join(parts), spans=tuple(spans), markers=markers)


def _plain(data: bytes, start: int, end: int) -> bool:
    """Rule 1: only bytes the parser and C14N both leave as they are (checked in chunks,
    so no copy of the whole text is made)."""
    view = memoryview(data)
    return all(
        not view[i : min(i + _CHUNK, end)].tobytes().translate(None, _PLAIN)
        for i in range(start, end, _CHUNK)
    )


def pieces(root: etree._Element, data: bytes, lifted: Lifted) -> list[Piece] | None:
    """Rule 2 for the small tree ``root`` (parsed from ``lifted.small``, perhaps changed as
    the enveloped transform requires), or None if a marker is not where it must be."""
    holders = {m: 0 for m in lifted.markers}
    for element in root.iter(etree.Element):
        text = element.text
        if text in holders:
            if len(element):
                return None
            holders[text] += 1
    if any(count != 1 for count in holders.values()):
        return None
    canonical = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
    view = memoryview(data)
    out: list[Piece] = []
    previous = 0
    for marker, (start, end) in zip(lifted.markers, lifted.spans, strict=True):
        encoded = marker.encode()
        at = canonical.find(encoded, previous)
        if at < 0 or canonical.count(encoded) != 1:  # pragma: no cover - one holder, once
            return None
        out += (canonical[previous:at], view[start:end])
        previous = at + len(encoded)
    out.append(canonical[previous:])
    return out


def tree_of(parts: Sequence[Piece]) -> etree._Element:
    """Rule 3: the document the pieces spell, parsed by one of our parsers (they are C14N
    output of a checked tree: no DTD, entities or PIs to fear)."""
    parser = make_parser()
    for part in parts:
        for i in range(0, len(part), _CHUNK):
            parser.feed(bytes(part[i : i + _CHUNK]))
    root: etree._Element = parser.close()
    return root
