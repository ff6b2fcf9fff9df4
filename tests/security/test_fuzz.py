"""Bounded fuzzing of the hostile-input contract (STYLE §2, h11's fuzz/afl-server.py):
parsing, reading or verifying ANY bytes returns a value or raises an ``EnvelopeError``;
the receive-path ``check_packet`` never raises at all for a bad packet (its error is one of
the library errors). Inputs are fed whole (arbitrary bytes, XML-ish token soup) and as byte
mutations of a valid signed packet. Long runs: ``fuzz/`` (atheris).
"""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from docnode import errors
from docnode.audit import report_from
from docnode.verification import VerificationContext, build_context, check_packet
from envelopes.errors import EnvelopeError
from envelopes.parser import parse
from envelopes.read import read_packet
from envelopes.signature import verify
from keystore.errors import KeystoreError

from .crafting import LIMITS, Kit, serialise
from .crafting import parse as parse_test_xml

if TYPE_CHECKING:
    from tests.conftest import Pki

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

LIBRARY_ERRORS = (EnvelopeError, KeystoreError, errors.DocnodeError)

_TOKENS = [
    b"<", b">", b"</", b"/>", b"<?xml version='1.0'?>", b"<!DOCTYPE x>", b"<!--", b"-->",
    b"<![CDATA[", b"]]>", b"&amp;", b"&#0;", b"&#x110000;", b"&x;", b'"', b"'", b"=",
    b"<edXML xmlns='http://www.mic.gov.vn/TBT/QCVN_102_2016'>", b"</edXML>",
    b"<ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'>", b"</ds:Signature>",
    b"xmlns:a='urn:a'", b"a:", b"\x00", b"\xff", b"\xef\xbb\xbf", b"\xc3\xa1", b" ", b"\n",
    b"<?pi?>", b"<xi:include xmlns:xi='http://www.w3.org/2001/XInclude'/>",
]
xmlish = st.lists(st.sampled_from(_TOKENS) | st.binary(max_size=8), max_size=60).map(b"".join)
anything = st.binary(max_size=2048) | xmlish


def _contract(call: object, data: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        call(data)  # type: ignore[operator]


@FUZZ
@given(data=anything)
@example(data=b"")
@example(data=b"<?xml version='1.0' encoding='UTF-16'?><a/>")
@example(data=b"\xfe\xff\x00<\x00a\x00/\x00>")
def test_parser_any_bytes(data: bytes) -> None:
    _contract(lambda d: parse(d, limits=LIMITS), data)
    _contract(lambda d: parse(d, limits=LIMITS, lenient=True), data)


@FUZZ
@given(data=anything)
def test_read_and_verify_any_bytes(data: bytes) -> None:
    _contract(lambda d: read_packet(d, limits=LIMITS), data)
    _contract(lambda d: verify(d, limits=LIMITS), data)


@pytest.fixture(scope="module")
def signed_packet(kit: Kit) -> bytes:
    return kit.signed()


@FUZZ
@given(data=st.data())
def test_check_packet_on_byte_mutations(
    data: st.DataObject, signed_packet: bytes, kit: Kit, context: VerificationContext
) -> None:
    packet = bytearray(signed_packet)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        where = data.draw(st.integers(0, len(packet) - 1), label="where")
        action = data.draw(st.sampled_from(["flip", "set", "delete", "insert", "cut"]))
        if action == "flip":
            packet[where] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "set":
            packet[where] = data.draw(st.integers(0, 255))
        elif action == "delete":
            del packet[where : where + data.draw(st.integers(1, 64))]
        elif action == "insert":
            packet[where:where] = data.draw(st.sampled_from(_TOKENS) | st.binary(max_size=16))
        else:
            del packet[where:]
        if not packet:
            break
    outcome = check_packet(bytes(packet), context=context, at=kit.at, check_freshness=True)
    assert outcome.error is None or isinstance(outcome.error, LIBRARY_ERRORS)
    if outcome.error is None:
        # A mutation that still verifies can only have touched what the signature does not
        # cover (whitespace between elements, comments, the Signature's own formatting).
        assert outcome.facts.packet is not None
        assert outcome.facts.sender_bound is True


@FUZZ
@given(data=anything)
def test_check_packet_any_bytes(data: bytes, kit: Kit, context: VerificationContext) -> None:
    outcome = check_packet(data, context=context, at=kit.at, check_freshness=True)
    assert isinstance(outcome.error, LIBRARY_ERRORS)


def test_every_single_byte_flip_of_the_header_is_refused(
    signed_packet: bytes, kit: Kit, context: VerificationContext
) -> None:
    """Byte by byte over the signed MessageHeader: each flipped byte breaks the packet."""
    start = signed_packet.index(b"<edXML:MessageHeader>")
    end = signed_packet.index(b"</edXML:MessageHeader>")
    for i in range(start, end, 7):
        mutated = bytearray(signed_packet)
        mutated[i] ^= 0x01
        outcome = check_packet(bytes(mutated), context=context, at=kit.at, check_freshness=True)
        assert isinstance(outcome.error, LIBRARY_ERRORS), i


def _corrupt_subject(der: bytes, subject: bytes) -> bytes:
    """The DER certificate with an invalid UTF-8 byte in its subject's first UTF8String."""
    start = der.rindex(subject)
    tag = subject.index(b"\x0c")  # UTF8String
    broken = bytearray(der)
    broken[start + tag + 2] = 0xFF
    return bytes(broken)


def test_corrupt_chain_certificate_is_refused(
    signed_packet: bytes, kit: Kit, pki: Pki, tmp_path: Path
) -> None:
    """Regression (atheris): KeyInfo is outside the signature, so a chain certificate can be
    corrupted without breaking it; cryptography decodes the subject lazily, and the ValueError
    used to escape from path building when the node needs the sent chain (no configured
    intermediates)."""
    root = parse_test_xml(signed_packet)
    nodes = root.findall(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
    assert len(nodes) >= 2
    der = base64.b64decode(nodes[1].text or "")
    cert = x509.load_der_x509_certificate(der)
    nodes[1].text = base64.b64encode(
        _corrupt_subject(der, cert.subject.public_bytes())).decode()
    data = serialise(root)
    trust = pki.write_trust(tmp_path)
    needs_sent_chain = build_context(anchors=[trust.anchor], crls=[trust.crl, trust.root_crl],
                                     limits=LIMITS)
    outcome = check_packet(data, context=needs_sent_chain, at=kit.at, check_freshness=True)
    assert isinstance(outcome.error, LIBRARY_ERRORS)
    assert outcome.error.code in ("signature_invalid", "certificate_untrusted")
    # The auditor's report of that outcome is built without error too.
    report = report_from(outcome, source="corrupt-chain.xml", at=kit.at)
    assert report.code == outcome.error.code
