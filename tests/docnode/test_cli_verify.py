"""``docnode verify``: the auditor's report and exit codes (issue: keys and trust).

Packets are signed with certificates from the session PKI (tests/conftest.py) and checked
through the real CLI entry point (``docnode.cli.main``) with the dev CA as trust anchor.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from docnode.cli import main
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
from envelopes.packet import pack_edoc
from keystore.ca import Issued
from tests.conftest import Pki, TrustFiles


def _edoc(pki: Pki, sender: str = "000.00.00.G22") -> Edoc:
    return Edoc(
        from_=Organization(OrganId.parse(sender), organ_name="Văn phòng Bộ Nội vụ"),
        to=(Organization(OrganId.parse("000.00.00.H41")),),
        document_id=f"{sender},2026/11/30,12/BNV-VP",
        code=Code("12", "BNV-VP"),
        promulgation_info=PromulgationInfo("Hà Nội", date(2026, 11, 30)),
        document_type=DocumentType(1, 0, "Công văn"),
        subject="Về việc thử nghiệm kiểm tra chữ ký",
        trace_headers=(TraceHeader(OrganId.parse(sender), pki.at - timedelta(hours=1)),),
        attachments=(Attachment("cong-van.pdf", b"%PDF-1.7 test", "application/pdf"),),
    )


def _sign(issued: Issued, edoc: Edoc) -> bytes:
    return pack_edoc(
        edoc, key=issued.key, certificate=issued.certificate, chain=issued.chain
    )


@dataclass
class Env:
    pki: Pki
    trust: TrustFiles
    dir: Path

    def packet(self, name: str, identity: str = "valid", *, sender: str = "000.00.00.G22",
               tamper: bool = False) -> Path:
        data = _sign(self.pki.identities[identity], _edoc(self.pki, sender))
        if tamper:
            data = data.replace("thử nghiệm".encode(), b"thu nghiem", 1)
        path = self.dir / f"{name}.edxml"
        path.write_bytes(data)
        return path

    def verify(self, *paths: Path, extra: tuple[str, ...] = ()) -> tuple[int, dict[str, object]]:
        args = [
            "verify", "--json", "--trust-anchor", str(self.trust.anchor),
            "--crl", str(self.trust.crl), "--crl", str(self.trust.root_crl),
            "--at", self.pki.at.isoformat(), *extra, *map(str, paths),
        ]
        return _run(args)


def _run(args: list[str]) -> tuple[int, dict[str, object]]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(args)
    text = out.getvalue()
    return code, (json.loads(text) if text.strip().startswith("{") else {"text": text})


@pytest.fixture
def env(pki: Pki, tmp_path: Path) -> Env:
    return Env(pki, pki.write_trust(tmp_path / "trust"), tmp_path)


def _report(result: dict[str, object]) -> dict[str, object]:
    reports = result["reports"]
    assert isinstance(reports, list) and len(reports) == 1
    report = reports[0]
    assert isinstance(report, dict)
    return report


def test_valid_packet_passes_with_a_full_report(env: Env) -> None:
    code, result = env.verify(env.packet("ok"), extra=("--revocation", "required"))
    assert code == 0
    r = _report(result)
    assert r["status"] == "PASSED" and r["code"] is None
    assert r["from_organ_id"] == "000.00.00.G22"
    assert r["certificate_organ_ids"] == ["000.00.00.G22"]
    assert r["sender_bound"] is True
    assert r["anchor"]["subject"] == env.pki.root.subject.rfc4514_string()  # type: ignore[index]
    assert r["signature_algorithm"] == "ecdsa-sha256"
    assert "good" in str(r["revocation"])
    assert r["attachments"] == [
        {"name": "cong-van.pdf", "size": len(b"%PDF-1.7 test"), "content_type": "application/pdf"}
    ]


@pytest.mark.parametrize(
    ("identity", "tamper", "sender", "code", "reason"),
    [
        ("valid", True, "000.00.00.G22", "signature_invalid", None),
        ("revoked", False, "000.00.00.G22", "certificate_revoked", "revoked"),
        ("expired", False, "000.00.00.G22", "certificate_untrusted", "expired"),
        ("other_root_same_name", False, "000.00.00.G22", "certificate_untrusted",
         "untrusted_root"),
        ("valid", False, "000.00.00.G17", "sender_mismatch", None),
    ],
    ids=["tampered", "revoked", "expired", "untrusted_root_same_name", "from_not_cert"],
)
def test_invalid_packets_exit_1_with_the_reason(  # noqa: PLR0917 - parametrised
    env: Env, identity: str, tamper: bool, sender: str, code: str, reason: str | None
) -> None:
    path = env.packet("bad", identity, sender=sender, tamper=tamper)
    exit_code, result = env.verify(path)
    assert exit_code == 1
    r = _report(result)
    assert r["status"] == "FAILED"
    assert r["code"] == code
    assert r["reason"] == reason


def test_missing_file_exits_2(env: Env) -> None:
    code, result = env.verify(env.packet("ok"), env.dir / "missing.edxml")
    assert code == 2
    assert result["summary"] == {"passed": 1, "failed": 1, "indeterminate": 0}


def test_required_revocation_without_crl_is_indeterminate(env: Env) -> None:
    path = env.packet("ok")
    code, result = _run([
        "verify", "--json", "--trust-anchor", str(env.trust.anchor),
        "--revocation", "required", "--at", env.pki.at.isoformat(), str(path),
    ])
    assert code == 1
    r = _report(result)
    assert r["status"] == "INDETERMINATE" and r["code"] == "revocation_unknown"


def test_at_is_honoured(env: Env) -> None:
    """The packet is valid today but the certificate was not yet valid a year ago."""
    path = env.packet("ok")
    a_year_ago = (env.pki.at - timedelta(days=365)).isoformat()
    code, result = env.verify(path, extra=("--at", a_year_ago))
    assert code == 1
    assert _report(result)["reason"] == "not_yet_valid"


def test_table_output_and_summary(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    ok, bad = env.packet("ok"), env.packet("bad", "revoked")
    code = main([
        "verify", "--trust-anchor", str(env.trust.anchor), "--crl", str(env.trust.crl),
        "--at", env.pki.at.isoformat(), str(ok), str(bad),
    ])
    out = capsys.readouterr().out
    assert code == 1
    assert "VALID" in out and "INVALID [certificate_revoked/revoked]" in out
    assert out.strip().splitlines()[-1] == "2 packet(s): 1 valid, 1 invalid, 0 indeterminate"


def test_no_trust_anchor_is_a_usage_error(env: Env, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DOCNODE_CONFIG", raising=False)
    code, _ = _run(["verify", str(env.packet("ok"))])
    assert code == 2


def test_packet_signed_by_xmlsec1_verifies(env: Env, xmlsec1: str, tmp_path: Path) -> None:
    """An independent signer: xmlsec1 signs a template with a dev-CA key; we verify."""
    from envelopes.edxml import encode_edoc

    issued = env.pki.identities["valid"]
    unsigned = encode_edoc(_edoc(env.pki))
    ds = (
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
        b'<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        b'<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>'
        b'<ds:Reference URI=""><ds:Transforms>'
        b'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        b'<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>'
        b'<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        b"<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>"
        b"<ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data>"
        b"<ds:X509Certificate></ds:X509Certificate><ds:X509Certificate></ds:X509Certificate>"
        b"</ds:X509Data></ds:KeyInfo></ds:Signature>"
    )
    marker = unsigned.index(b"</edXML:edXMLHeader>")
    template = tmp_path / "template.xml"
    template.write_bytes(unsigned[:marker] + ds + unsigned[marker:])
    key = tmp_path / "key.pem"
    key.write_bytes(issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    cert = tmp_path / "cert.pem"
    cert.write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                               for c in issued.chain))
    out = tmp_path / "signed.edxml"
    subprocess.run(
        [xmlsec1, "--sign", "--privkey-pem", f"{key},{cert},{chain}",
         "--output", str(out), str(template)],
        check=True, capture_output=True, timeout=60,
    )
    code, result = env.verify(out)
    assert code == 0, result
    assert _report(result)["signer"]["subject"] == (  # type: ignore[index]
        issued.certificate.subject.rfc4514_string())
