"""Signing while building (envelopes._builder rule 4, envelopes.packet rule 1): pack_edoc and
pack_status give exactly the bytes signature.sign gives for the encoder's output, and the
canonical rendering is lxml's C14N of what is sent."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from lxml import etree

from envelopes.edxml import encode_edoc, encode_status, prepare_edoc, prepare_status
from envelopes.errors import EnvelopeError
from envelopes.limits import Limits
from envelopes.model import Edoc, ExtraElement, StatusMessage
from envelopes.packet import open_packet, pack_edoc, pack_status
from envelopes.parser import parse
from envelopes.signature import DS_NS, sign, verify
from tests.envelopes.test_edxml_properties import PROPERTY, edocs, statuses
from tests.envelopes.test_packet import an_edoc

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

if TYPE_CHECKING:
    from keystore.ca import Issued
    from tests.conftest import Pki


def enveloped_c14n(unsigned: bytes) -> bytes:
    """lxml's exclusive C14N of ``unsigned`` as it reads once signed and then stripped of
    its Signature by the enveloped transform (the Signature goes on its own line)."""
    signed_like = parse(unsigned).root
    header = signed_like[0][0]
    header[-1].tail = (header.text or "") + (header[-1].tail or "")
    return etree.tostring(signed_like, method="c14n", exclusive=True, with_comments=False)


@PROPERTY
@given(edocs)
def test_prepared_edoc_is_the_encoding_and_its_c14n(edoc: Edoc) -> None:
    prepared = prepare_edoc(edoc)
    assert prepared is not None
    unsigned = encode_edoc(edoc)
    assert prepared.unsigned() == unsigned
    assert prepared.digest == hashlib.sha256(enveloped_c14n(unsigned)).digest()


@PROPERTY
@given(statuses)
def test_prepared_status_is_the_encoding_and_its_c14n(status: StatusMessage) -> None:
    prepared = prepare_status(status)
    assert prepared is not None
    unsigned = encode_status(status)
    assert prepared.unsigned() == unsigned
    assert prepared.digest == hashlib.sha256(enveloped_c14n(unsigned)).digest()


@pytest.fixture(scope="module")
def rsa(pki: Pki) -> Issued:
    return pki.valid_rsa  # RSA PKCS#1 v1.5 is deterministic: equal input, equal signature


@PROPERTY
@given(edoc=edocs)
def test_pack_edoc_equals_sign_of_the_encoding(rsa: Issued, edoc: Edoc) -> None:
    keys = {"key": rsa.key, "certificate": rsa.certificate, "chain": rsa.chain}
    packed = pack_edoc(edoc, **keys)  # type: ignore[arg-type]
    assert packed == sign(encode_edoc(edoc), **keys)  # type: ignore[arg-type]
    assert verify(packed).signer_certificate == rsa.certificate


@PROPERTY
@given(status=statuses)
def test_pack_status_equals_sign_of_the_encoding(rsa: Issued, status: StatusMessage) -> None:
    keys = {"key": rsa.key, "certificate": rsa.certificate, "chain": rsa.chain}
    packed = pack_status(status, **keys)  # type: ignore[arg-type]
    assert packed == sign(encode_status(status), **keys)  # type: ignore[arg-type]
    assert open_packet(packed).packet == status


def test_edoc_with_extras_is_signed_from_its_bytes(rsa: Issued) -> None:
    extra = ExtraElement(
        parent="edXML/edXMLEnvelope/edXMLHeader/MessageHeader",
        index=0,
        xml=f'<Note xmlns="{NS}">kept</Note>',
    )
    with_extra = dataclasses.replace(an_edoc(), extra=(extra,))
    assert prepare_edoc(with_extra) is None
    keys = {"key": rsa.key, "certificate": rsa.certificate, "chain": rsa.chain}
    packed = pack_edoc(with_extra, **keys)  # type: ignore[arg-type]
    assert packed == sign(encode_edoc(with_extra), **keys)  # type: ignore[arg-type]
    (kept,) = open_packet(packed, lenient=True).packet.extra
    assert (kept.parent, kept.index, etree.fromstring(kept.xml).text) == (extra.parent, 0, "kept")


def test_the_size_limit_holds_for_prepared_packets(rsa: Issued) -> None:
    size = len(encode_edoc(an_edoc()))
    keys = {"key": rsa.key, "certificate": rsa.certificate, "chain": rsa.chain}
    with pytest.raises(EnvelopeError) as info:
        pack_edoc(an_edoc(), limits=Limits(max_packet_bytes=size - 1), **keys)  # type: ignore[arg-type]
    assert info.value.code == "too_large"
    signed = pack_edoc(an_edoc(), limits=Limits(max_packet_bytes=size), **keys)  # type: ignore[arg-type]
    assert etree.fromstring(signed).find(f".//{{{DS_NS}}}Signature") is not None
