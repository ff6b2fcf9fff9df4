"""Cross-check against an independent XML-DSig implementation: Debian's xmlsec1.

What we sign verifies with ``xmlsec1 --verify`` (against the dev root, with the issuing CA as
untrusted intermediate), and a packet that ``xmlsec1 --sign`` fills in from a template in
the agreed shape verifies with ours.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from envelopes.errors import EnvelopeError
from envelopes.signature import DS_NS, ENVELOPED, EXC_C14N, sign, verify
from keystore.ca import Issued, pem

if TYPE_CHECKING:
    from tests.conftest import Pki

pytestmark = pytest.mark.xmlsec1

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
METHODS = {
    "valid_rsa": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "valid": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
}


def unsigned_packet(*, big: bool = False) -> bytes:
    """The packet, with a 2 MB attachment text when ``big`` (verified without parsing it)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<edXML xmlns="{NS}">\n'
        f'  <edXML:edXMLEnvelope xmlns:edXML="{NS}">\n'
        "    <edXML:edXMLHeader>\n"
        "      <edXML:MessageHeader>\n"
        "        <edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId></edXML:From>\n"
        "        <edXML:Subject>Kiểm tra chéo với xmlsec1</edXML:Subject>\n"
        "      </edXML:MessageHeader>\n"
        "      <edXML:TraceHeaderList>\n"
        "        <edXML:TraceHeader><edXML:OrganId>000.00.00.G22</edXML:OrganId>"
        "<edXML:Timestamp>2026/12/01 09:30:00</edXML:Timestamp></edXML:TraceHeader>\n"
        "      </edXML:TraceHeaderList>\n"
        "    </edXML:edXMLHeader>\n"
        "    <edXML:edXMLBody><edXML:edXMLManifest/></edXML:edXMLBody>\n"
        "  </edXML:edXMLEnvelope>\n"
        "  <AttachmentEncoded><Attachment><ContentTransferEncoded>"
        + "QUJD"
        * (500_000 if big else 2000)
        + "</ContentTransferEncoded></Attachment></AttachmentEncoded>\n"
        "</edXML>\n"
    ).encode()


def template(method: str, *, big: bool = False) -> bytes:
    """The unsigned packet with an empty Signature of the agreed shape for xmlsec1 to fill."""
    signature = (
        f'<ds:Signature xmlns:ds="{DS_NS}"><ds:SignedInfo>'
        f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N.value}"/>'
        f'<ds:SignatureMethod Algorithm="{method}"/>'
        '<ds:Reference URI=""><ds:Transforms>'
        f'<ds:Transform Algorithm="{ENVELOPED}"/>'
        f'<ds:Transform Algorithm="{EXC_C14N.value}"/>'
        "</ds:Transforms>"
        '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        "<ds:DigestValue/></ds:Reference></ds:SignedInfo>"
        "<ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"
    )
    return unsigned_packet(big=big).replace(
        b"</edXML:TraceHeaderList>\n",
        b"</edXML:TraceHeaderList>\n      " + signature.encode() + b"\n",
    )


def trust_files(pki: Pki, tmp_path: Path) -> tuple[Path, Path]:
    root, issuing = tmp_path / "root.pem", tmp_path / "issuing.pem"
    root.write_bytes(pem(pki.root))
    issuing.write_bytes(pem(pki.issuing))
    return root, issuing


def xmlsec1_verify(
    xmlsec1: str, pki: Pki, tmp_path: Path, signed: bytes
) -> subprocess.CompletedProcess[str]:
    root, issuing = trust_files(pki, tmp_path)
    packet = tmp_path / "packet.edxml"
    packet.write_bytes(signed)
    return subprocess.run(
        [
            xmlsec1,
            "--verify",
            "--trusted-pem",
            str(root),
            "--untrusted-pem",
            str(issuing),
            str(packet),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("name", ["valid_rsa", "valid"])
def test_what_we_sign_verifies_with_xmlsec1(
    xmlsec1: str, pki: Pki, tmp_path: Path, name: str
) -> None:
    issued: Issued = getattr(pki, name)
    signed = sign(
        unsigned_packet(), key=issued.key, certificate=issued.certificate, chain=issued.chain
    )
    done = xmlsec1_verify(xmlsec1, pki, tmp_path, signed)
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout + done.stderr


def test_xmlsec1_refuses_what_we_would_refuse(xmlsec1: str, pki: Pki, tmp_path: Path) -> None:
    issued: Issued = pki.valid
    signed = sign(
        unsigned_packet(), key=issued.key, certificate=issued.certificate, chain=issued.chain
    )
    tampered = signed.replace("chéo".encode(), b"cheo")
    assert xmlsec1_verify(xmlsec1, pki, tmp_path, tampered).returncode != 0
    with pytest.raises(EnvelopeError) as info:
        verify(tampered)
    assert info.value.code == "signature_invalid"


@pytest.mark.parametrize("big", [False, True], ids=["small", "big"])
@pytest.mark.parametrize("name", ["valid_rsa", "valid"])
def test_xmlsec1_signed_packet_verifies_with_ours(
    xmlsec1: str, pki: Pki, tmp_path: Path, name: str, big: bool
) -> None:
    issued: Issued = getattr(pki, name)
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_file.write_bytes(
        issued.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(pem(issued.certificate))
    _, issuing = trust_files(pki, tmp_path)
    tmpl, out = tmp_path / "template.edxml", tmp_path / "signed.edxml"
    tmpl.write_bytes(template(METHODS[name], big=big))
    done = subprocess.run(
        [
            xmlsec1,
            "--sign",
            "--privkey-pem",
            f"{key_file},{cert_file},{issuing}",
            "--output",
            str(out),
            str(tmpl),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    signed = out.read_bytes()
    certs = etree.fromstring(signed).findall(f".//{{{DS_NS}}}X509Certificate")
    assert certs  # xmlsec1 filled X509Data

    result = verify(signed)
    assert result.signer_certificate == issued.certificate
    assert result.packet_sha256 == hashlib.sha256(signed).hexdigest()
    assert result.signature_algorithm == METHODS[name].rpartition("#")[2]
    tampered = signed.replace("chéo".encode(), b"cheo")
    with pytest.raises(EnvelopeError) as info:
        verify(tampered)
    assert info.value.code == "signature_invalid"


@pytest.mark.parametrize("name", ["valid_rsa", "valid"])
def test_big_packets_we_sign_verify_with_xmlsec1(
    xmlsec1: str, pki: Pki, tmp_path: Path, name: str
) -> None:
    issued: Issued = getattr(pki, name)
    signed = sign(
        unsigned_packet(big=True),
        key=issued.key,
        certificate=issued.certificate,
        chain=issued.chain,
    )
    done = xmlsec1_verify(xmlsec1, pki, tmp_path, signed)
    assert done.returncode == 0, done.stderr
    assert verify(signed).signer_certificate == issued.certificate
