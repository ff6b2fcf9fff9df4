"""envelopes.parser: the one hardened parser (module rules 1-7)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from envelopes.errors import EnvelopeError
from envelopes.limits import Limits
from envelopes.parser import LENIENT_PREFIXES, ParsedXml, make_parser, parse

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
MINIMAL = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><a>x</a></edXML>'
)

# Hostile inputs, each named for what it pins.
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>"
)
XXE_FILE = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'
EXTERNAL_DTD = b'<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>'
UTF16_DOCTYPE = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a><a/>'.encode("utf-16")
XINCLUDE = (
    b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd" '
    b'parse="text"/></a>'
)
PI_IN_PROLOG = b'<?xml version="1.0"?><?xml-stylesheet href="evil.xsl"?><a/>'
PI_IN_TREE = b"<a><?php echo 1; ?></a>"
PI_AFTER_ROOT = b"<a/><?after x?>"
JUNK_BEFORE_DECLARATION = b'1212<?xml version="1.0" encoding="UTF-8"?><a/>'
UNDECLARED_XLINK = b'<a><b xlink:href="cid:1"/></a>'
UNDECLARED_OTHER_PREFIX = b'<a><b evil:href="cid:1"/></a>'


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def code_of(data: bytes, **kwargs: object) -> str:
    with pytest.raises(EnvelopeError) as info:
        parse(data, **kwargs)  # type: ignore[arg-type]
    return info.value.code


def test_parses_plain_document() -> None:
    parsed = parse(MINIMAL)
    assert isinstance(parsed, ParsedXml)
    assert parsed.root.tag == f"{{{NS}}}edXML"
    assert parsed.warnings == ()


def test_size_limit_checked_before_parsing() -> None:
    # Not even well-formed: the size check must come first.
    assert code_of(b"<" * 101, limits=Limits(max_packet_bytes=100)) == "too_large"
    assert parse(MINIMAL, limits=Limits(max_packet_bytes=len(MINIMAL))).root is not None


@pytest.mark.parametrize(
    "data",
    [BILLION_LAUGHS, XXE_FILE, EXTERNAL_DTD, UTF16_DOCTYPE, b"<!DOCTYPE a><a/>"],
    ids=["billion_laughs", "xxe_file", "external_dtd", "utf16_doctype", "bare_doctype"],
)
def test_dtds_and_entities_are_forbidden(data: bytes) -> None:
    assert code_of(data) == "forbidden_xml"
    assert code_of(data, lenient=True) == "forbidden_xml"


def test_xinclude_is_refused_not_processed() -> None:
    assert code_of(XINCLUDE) == "forbidden_xml"
    old = XINCLUDE.replace(b"2001/XInclude", b"2003/XInclude")
    assert code_of(old) == "forbidden_xml"


@pytest.mark.parametrize("data", [PI_IN_PROLOG, PI_IN_TREE, PI_AFTER_ROOT])
def test_processing_instructions_are_refused(data: bytes) -> None:
    assert code_of(data) == "forbidden_xml"


def test_xml_declaration_and_bom_are_fine() -> None:
    assert parse(b"\xef\xbb\xbf" + MINIMAL).root.tag == f"{{{NS}}}edXML"
    assert parse(b"<!-- a comment in the prolog -->\n<a/>").root.tag == "a"


def test_depth_limit() -> None:
    limits = Limits(max_depth=10)
    assert parse(nested(10), limits=limits).root.tag == "a"
    with pytest.raises(EnvelopeError) as info:
        parse(nested(11), limits=limits)
    assert info.value.code == "too_deep"
    assert code_of(nested(300)) == "too_deep"  # the default limit is 256


def test_depth_beyond_libxml2_cap_is_too_deep_not_malformed() -> None:
    assert code_of(nested(3000), limits=Limits(max_depth=5000)) == "too_deep"


def test_wide_documents_are_not_mistaken_for_deep_ones() -> None:
    wide = b"<a>" + b"<b/>" * 10_000 + b"</a>"
    assert len(parse(wide).root) == 10_000


def test_malformed_input_reports_the_line() -> None:
    with pytest.raises(EnvelopeError) as info:
        parse(b"<a>\n<b>\n</a>")
    assert info.value.code == "malformed_xml"
    assert info.value.line is not None
    assert code_of(b"") == "malformed_xml"
    assert code_of("<a/>") == "malformed_xml"  # type: ignore[arg-type]


def test_text_node_over_ten_megabytes() -> None:
    """libxml2 refuses text nodes > 10 MB unless huge_tree is on; ours has it on."""
    big = b"<a>" + b"QUJD" * (3 * 1024 * 1024) + b"</a>"  # 12 MiB of base64
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(big, etree.XMLParser())
    assert len(parse(big).root.text or "") == 12 * 1024 * 1024


def test_lenient_strips_junk_before_declaration() -> None:
    assert code_of(JUNK_BEFORE_DECLARATION) == "malformed_xml"
    parsed = parse(JUNK_BEFORE_DECLARATION, lenient=True)
    assert parsed.root.tag == "a"
    assert len(parsed.warnings) == 1
    assert "4 junk" in parsed.warnings[0]


def test_lenient_does_not_strip_markup() -> None:
    assert code_of(b'<b/><?xml version="1.0"?><a/>', lenient=True) in {
        "malformed_xml",
        "forbidden_xml",
    }


def test_lenient_declares_undeclared_xlink_prefix() -> None:
    assert code_of(UNDECLARED_XLINK) == "malformed_xml"
    parsed = parse(UNDECLARED_XLINK, lenient=True)
    assert parsed.root[0].get(f"{{{LENIENT_PREFIXES['xlink']}}}href") == "cid:1"
    assert len(parsed.warnings) == 1
    assert "xlink" in parsed.warnings[0]


def test_lenient_tolerates_only_known_prefixes() -> None:
    assert code_of(UNDECLARED_OTHER_PREFIX, lenient=True) == "malformed_xml"


def test_every_vnpt_sample_parses(vnpt_samples: Path) -> None:
    broken = {"edoc.edxml", "edoc_new.edxml"}  # per the samples' README
    samples = sorted(vnpt_samples.glob("*.edxml"))
    assert samples
    for sample in samples:
        data = sample.read_bytes()
        if sample.name in broken:
            assert code_of(data) == "malformed_xml"
            parsed = parse(data, lenient=True)
            assert parsed.warnings
        else:
            parsed = parse(data)
            assert parsed.warnings == ()
        assert parsed.root.tag == f"{{{NS}}}edXML"


def test_make_parser_settings_never_expand_entities() -> None:
    root = etree.fromstring(b'<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>', make_parser())
    assert "boom" not in etree.tostring(root).decode().split("]>")[-1]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_return_or_raise_envelope_error(data: bytes) -> None:
    for lenient in (False, True):
        with contextlib.suppress(EnvelopeError):
            parse(data, lenient=lenient)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_mutated_documents_return_or_raise_envelope_error(position: int, value: int) -> None:
    base = BILLION_LAUGHS if position % 2 else MINIMAL + b"<!--x-->"
    data = bytearray(base)
    data[position % len(data)] = value
    for lenient in (False, True):
        with contextlib.suppress(EnvelopeError):
            parse(bytes(data), lenient=lenient)
