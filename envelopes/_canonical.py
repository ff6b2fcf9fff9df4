"""Exclusive C14N of a whole packet without holding its attachments twice over.

libxml2 canonicalises a text node into one output buffer and lxml then copies that buffer
into a Python bytes object: a 50 MB attachment costs 100 MB on top of the tree for a moment,
which is what keeps the peak memory of signing and verifying at four times the packet.

Rule: each attachment text (``ContentTransferEncoded``) of at least :data:`BIG_TEXT`
characters is swapped for a short marker, the now small tree is canonicalised by lxml, and
the output is written piecewise: lxml's bytes up to a marker, then the attachment text
escaped exactly as C14N escapes text nodes (``&`` ``<`` ``>`` and CR), chunk by chunk. If a
marker is not found exactly once (the packet happens to contain the marker text), the texts
are put back and lxml canonicalises the whole tree as usual. The output bytes are identical
either way; the tests compare both paths.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from .parser import EDXML_NS

BIG_TEXT = 1 << 20
"""Attachment texts at least this long (characters) are streamed."""
_CHUNK = 1 << 20
_TEXT_TAGS = (f"{{{EDXML_NS}}}ContentTransferEncoded", "ContentTransferEncoded")


def canonicalize(
    root: etree._Element,
    *,
    write: Callable[[bytes], object],
    exclusive: bool = True,
    with_comments: bool = False,
    inclusive_ns_prefixes: list[str] | None = None,
    restore: bool = True,
    big_texts: bool = True,
) -> None:
    """Write the C14N of ``root`` to ``write``; ``restore=False`` leaves the attachment
    texts out of the tree afterwards (for a tree that is thrown away next).
    ``big_texts=False`` says the document is too small to hold one (fewer bytes than
    :data:`BIG_TEXT`), which saves looking for them."""

    def lxml_c14n() -> bytes:
        return etree.tostring(
            root,
            method="c14n",
            exclusive=exclusive,
            with_comments=with_comments,
            inclusive_ns_prefixes=inclusive_ns_prefixes,
        )

    big: list[tuple[etree._Element, str]] = []
    for element in root.iter(*_TEXT_TAGS) if big_texts else ():
        text = element.text
        if text is not None and len(text) >= BIG_TEXT:
            big.append((element, text))
    if not big:
        write(lxml_c14n())
        return
    markers = [f"docnode-c14n-marker-{i}-of-{len(big)}" for i in range(len(big))]
    for (element, _), marker in zip(big, markers, strict=True):
        element.text = marker
    small = lxml_c14n()
    positions = [small.find(m.encode()) for m in markers]
    unique = all(small.count(m.encode()) == 1 for m in markers)
    if not unique or positions != sorted(positions):
        _restore(big)
        write(lxml_c14n())
        return
    start = 0
    for (_, text), marker, position in zip(big, markers, positions, strict=True):
        write(small[start:position])
        _write_text(text, write)
        start = position + len(marker)
    write(small[start:])
    if restore:
        _restore(big)


def _restore(big: list[tuple[etree._Element, str]]) -> None:
    for element, text in big:
        element.text = text


def _write_text(text: str, write: Callable[[bytes], object]) -> None:
    """C14N text-node escaping (C14N 1.0 §2.3), chunk by chunk."""
    for i in range(0, len(text), _CHUNK):
        chunk = text[i : i + _CHUNK]
        if "&" in chunk or "<" in chunk or ">" in chunk or "\r" in chunk:
            chunk = (
                chunk.replace("&", "&amp;")
                .replace("<", "&lt;")
                .replace(">", "&gt;")
                .replace("\r", "&#xD;")
            )
        write(chunk.encode())
