"""Building blocks for hostile packets (test-only): a valid packet kit and a hand-made
XML signature of any shape.

The hand-made signature is cryptographically correct for what it claims wherever that is
possible, so that the policy tests show a *valid* signature of the wrong shape being refused,
not merely a broken one.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID
from lxml import etree

from envelopes.edxml import encode_edoc
from envelopes.limits import Limits, MiB
from envelopes.model import (
    Attachment,
    Code,
    DocumentType,
    Edoc,
    Organization,
    PromulgationInfo,
    TraceHeader,
)
from envelopes.organ import OrganId
from envelopes.signature import sign
from keystore.ca import Issued

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
HEADER_PATH = f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLHeader"
ALGORITHMS = {
    "rsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "ecdsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "rsa-sha1": "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "hmac-sha256": "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
}

SENDER = "000.00.00.G22"
"""OrganId of the test PKI's signing certificates."""
RECIPIENT = "000.00.00.H41"
"""OrganId of the receiving node."""

LIMITS = Limits(
    max_packet_bytes=4 * MiB,
    max_depth=256,
    max_attachments=5,
    max_attachment_bytes=1 * MiB,
    max_total_attachment_bytes=2 * MiB,
)
"""Small limits, so that the oversize cases stay cheap (the HTTP node is configured alike)."""

_serial = itertools.count(1)


def ds(name: str) -> str:
    return f"{{{DS_NS}}}{name}"


def edx(name: str) -> str:
    return f"{{{NS}}}{name}"


def parse(data: bytes) -> etree._Element:
    """Parse our own, trusted test bytes (the plain lxml parser is fine here)."""
    return etree.fromstring(data, etree.XMLParser(remove_blank_text=False))


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def header_of(root: etree._Element) -> etree._Element:
    header = root.find(HEADER_PATH)
    assert header is not None
    return header


def signature_of(root: etree._Element) -> etree._Element:
    found = root.findall(f".//{ds('Signature')}")
    assert len(found) == 1
    return found[0]


@dataclass(frozen=True)
class Kit:
    """A valid sender, a clock and the packet builders every hostile factory starts from."""

    identities: dict[str, Issued]
    at: datetime
    """The moment the packets claim (TraceHeader) and are verified at."""
    extra_signers: dict[str, Issued] = dataclasses.field(default_factory=dict)

    def identity(self, name: str) -> Issued:
        return self.extra_signers.get(name) or self.identities[name]

    def edoc(
        self,
        *,
        sender: str = SENDER,
        recipient: str = RECIPIENT,
        document_id: str | None = None,
        subject: str = "Về việc thử nghiệm an ninh",
        stamp: datetime | None = None,
        trace: bool = True,
        attachments: Sequence[Attachment] | None = None,
    ) -> Edoc:
        number = next(_serial)
        promulgated = date(2026, 12, 1)
        code = Code(str(number), "BNV-VP")
        return Edoc(
            from_=Organization(OrganId.parse(sender), "Văn phòng Bộ Nội vụ"),
            to=(Organization(OrganId.parse(recipient), "Sở Nội vụ Hà Nội"),),
            document_id=document_id or f"{sender},2026/12/01,{code}",
            code=code,
            promulgation_info=PromulgationInfo("Hà Nội", promulgated),
            document_type=DocumentType(1),
            subject=subject,
            trace_headers=(
                (TraceHeader(OrganId.parse(sender), stamp or self.at),) if trace else ()
            ),
            attachments=(
                (Attachment("to-trinh.pdf", b"%PDF-1.7 signed content " * 20,
                            content_type="application/pdf"),)
                if attachments is None else tuple(attachments)
            ),
        )

    def unsigned(self, edoc: Edoc | None = None) -> bytes:
        return encode_edoc(edoc or self.edoc())

    def sign(self, data: bytes, identity: str = "valid") -> bytes:
        issued = self.identity(identity)
        return sign(data, key=issued.key, certificate=issued.certificate, chain=issued.chain)

    def signed(self, edoc: Edoc | None = None, identity: str = "valid") -> bytes:
        return self.sign(self.unsigned(edoc), identity)

    def edited_then_signed(self, change: Callable[[etree._Element], None],
                           edoc: Edoc | None = None) -> bytes:
        """Edit the unsigned packet, then sign it: the signature holds, the content is bad."""
        root = parse(self.unsigned(edoc))
        change(root)
        return self.sign(serialise(root))

    def signed_then_edited(self, change: Callable[[etree._Element], None],
                           edoc: Edoc | None = None) -> bytes:
        """Sign, then edit: what an attacker holding one genuine packet can do."""
        root = parse(self.signed(edoc))
        change(root)
        return serialise(root)


def handmade_signature(
    root: etree._Element,
    issued: Issued,
    *,
    parent: etree._Element | None = None,
    uri: str = "",
    transforms: Sequence[tuple[str, str | None]] = ((ENVELOPED, None), (EXC_C14N, None)),
    method: str = "",
    digest: str = "sha256",
    certificates: Sequence[x509.Certificate] | None = None,
    key_info: Callable[[etree._Element], None] | None = None,
    references: int = 1,
) -> etree._Element:
    """Append a correctly computed enveloped signature of the given shape to ``parent``
    (default: the header). ``transforms`` are (Algorithm, optional child XML) pairs."""
    key = issued.key
    if not method:
        method = "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
    hash_alg: hashes.HashAlgorithm = hashes.SHA1() if digest == "sha1" else hashes.SHA256()  # noqa: S303
    h = hashes.Hash(hash_alg)
    h.update(etree.tostring(root, method="c14n", exclusive=True))
    digest_value = base64.b64encode(h.finalize()).decode()
    target = header_of(root) if parent is None else parent
    sig = etree.SubElement(target, ds("Signature"), nsmap={"ds": DS_NS})
    info = etree.SubElement(sig, ds("SignedInfo"))
    etree.SubElement(info, ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(info, ds("SignatureMethod"), Algorithm=ALGORITHMS[method])
    for _ in range(references):
        ref = etree.SubElement(info, ds("Reference"), URI=uri)
        steps = etree.SubElement(ref, ds("Transforms"))
        for algorithm, child in transforms:
            step = etree.SubElement(steps, ds("Transform"), Algorithm=algorithm)
            if child is not None:
                step.append(etree.fromstring(child))
        etree.SubElement(ref, ds("DigestMethod"), Algorithm=ALGORITHMS[digest])
        etree.SubElement(ref, ds("DigestValue")).text = digest_value
    signed_info = etree.tostring(info, method="c14n", exclusive=True)
    sig_hash: hashes.HashAlgorithm = hashes.SHA1() if method == "rsa-sha1" else hashes.SHA256()  # noqa: S303
    certs = (issued.certificate, *issued.chain) if certificates is None else tuple(certificates)
    if method == "hmac-sha256":
        # The classic key confusion: the "secret" is the public certificate.
        secret = certs[0].public_bytes(serialization.Encoding.DER)
        value = hmac.new(secret, signed_info, hashlib.sha256).digest()
    elif isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(signed_info, padding.PKCS1v15(), sig_hash)
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = utils.decode_dss_signature(key.sign(signed_info, ec.ECDSA(sig_hash)))
        value = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    etree.SubElement(sig, ds("SignatureValue")).text = base64.b64encode(value).decode()
    info_el = etree.SubElement(sig, ds("KeyInfo"))
    if key_info is not None:
        key_info(info_el)
    else:
        x509_data = etree.SubElement(info_el, ds("X509Data"))
        for cert in certs:
            node = etree.SubElement(x509_data, ds("X509Certificate"))
            node.text = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return sig


def self_signed_signer(*, organ_id: str = SENDER, at: datetime) -> Issued:
    """A self-signed certificate that looks like an agency signing certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Văn phòng Bộ Nội vụ"),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, organ_id),
        x509.NameAttribute(NameOID.COMMON_NAME, "Văn phòng Bộ Nội vụ"),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(days=1))
        .not_valid_after(at + timedelta(days=30))
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate=cert, key=key, chain=())
