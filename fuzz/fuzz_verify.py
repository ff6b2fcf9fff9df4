"""Coverage-guided fuzzing of the receive path with atheris (long runs; see fuzz/README.md).

The contract under test (STYLE §2): for ANY bytes, ``envelopes.parser.parse``,
``envelopes.read.read_packet`` and ``envelopes.signature.verify`` return a value or raise an
``EnvelopeError``, and ``docnode.verification.check_packet`` returns an outcome whose error
(if any) is one of the library errors. Anything else escaping is a crash for libFuzzer.

A throw-away development PKI (``keystore.ca``) is built at start; the verification context
trusts it, so inputs mutated from the seed packets (``--write-seeds DIR``) reach every step:
parse, signature, schema, decode, trust, sender binding and freshness.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import atheris  # type: ignore[import-untyped]  # atheris ships no type hints

with atheris.instrument_imports():
    from cryptography.hazmat.primitives import serialization

    from docnode import errors
    from docnode.verification import VerificationContext, build_context, check_packet
    from envelopes.edxml import AttachmentEncoding, encode_edoc
    from envelopes.errors import EnvelopeError
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
    from envelopes.parser import parse
    from envelopes.read import read_packet
    from envelopes.signature import sign, verify
    from keystore.ca import DevCA, pem
    from keystore.errors import KeystoreError

LIMITS = Limits(max_packet_bytes=1 * MiB, max_attachments=8, max_attachment_bytes=256 * 1024,
                max_total_attachment_bytes=512 * 1024)
LIBRARY_ERRORS = (EnvelopeError, KeystoreError, errors.DocnodeError)
AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _setup(workdir: Path) -> tuple[VerificationContext, list[bytes]]:
    ca = DevCA.init(workdir / "ca", now=AT - timedelta(days=365))
    issued = ca.issue_signing("000.00.00.G22", "Văn phòng Bộ Nội vụ",
                              valid_from=AT - timedelta(days=30),
                              valid_until=AT + timedelta(days=365))
    anchor = workdir / "root.pem"
    anchor.write_bytes(pem(ca.root))
    crl = workdir / "crl.pem"
    crl.write_bytes(ca.crl(at=AT).public_bytes(serialization.Encoding.PEM))
    root_crl = workdir / "root-crl.pem"
    root_crl.write_bytes(ca.crl(at=AT, root=True).public_bytes(serialization.Encoding.PEM))
    context = build_context(anchors=[anchor], intermediates=[], crls=[crl, root_crl],
                            revocation="required", limits=LIMITS)
    seeds = []
    for n, encoding in enumerate((AttachmentEncoding.ZIP, AttachmentEncoding.RAW), start=1):
        edoc = Edoc(
            from_=Organization(OrganId.parse("000.00.00.G22"), "Văn phòng Bộ Nội vụ"),
            to=(Organization(OrganId.parse("000.00.00.H41"), "Sở Nội vụ Hà Nội"),),
            document_id=f"000.00.00.G22,2026/12/01,{n}/BNV-VP",
            code=Code(str(n), "BNV-VP"),
            promulgation_info=PromulgationInfo("Hà Nội", date(2026, 12, 1)),
            document_type=DocumentType(1),
            subject="Về việc kiểm thử",
            trace_headers=(TraceHeader(OrganId.parse("000.00.00.G22"), AT),),
            attachments=(Attachment("a.pdf", b"%PDF-1.7 " * 30, content_type="application/pdf"),),
        )
        seeds.append(sign(encode_edoc(edoc, encoding=encoding), key=issued.key,
                          certificate=issued.certificate, chain=issued.chain))
    return context, seeds


_WORKDIR = tempfile.TemporaryDirectory(prefix="docnode-fuzz-")
CONTEXT, SEEDS = _setup(Path(_WORKDIR.name))


def _expect_contract(call: object, data: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        call(data)  # type: ignore[operator]


def test_one_input(data: bytes) -> None:
    _expect_contract(lambda d: parse(d, limits=LIMITS, lenient=True), data)
    _expect_contract(lambda d: read_packet(d, limits=LIMITS), data)
    _expect_contract(lambda d: verify(d, limits=LIMITS), data)
    outcome = check_packet(data, context=CONTEXT, at=AT, check_freshness=True)
    if outcome.error is not None and not isinstance(outcome.error, LIBRARY_ERRORS):
        raise AssertionError(f"check_packet returned a foreign error: {outcome.error!r}")


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "--write-seeds":
        out = Path(argv[2])
        out.mkdir(parents=True, exist_ok=True)
        for n, seed in enumerate(SEEDS, start=1):
            (out / f"seed-{n}.xml").write_bytes(seed)
        print(f"wrote {len(SEEDS)} seed packets to {out}")
        return
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
