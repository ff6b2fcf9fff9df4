"""The VNPT SDK sample packets (../shared/fixtures/vnpt-sdk-samples) read and re-serialise.

The README there lists the two broken files; they are read in lenient mode, the rest strictly.
Re-serialising keeps every field: decode → encode → decode gives the same model, and what we
write validates against our schema strictly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from envelopes.edxml import decode, encode_edoc, encode_status
from envelopes.errors import EnvelopeError
from envelopes.model import BusinessDocType, Edoc, OrganId, StatusCode, StatusMessage
from envelopes.parser import parse
from envelopes.read import read_packet
from envelopes.schema import validate

BROKEN = {"edoc_new.edxml": "junk before <?xml", "edoc.edxml": "undeclared xlink:/edXML: prefix"}
EDOCS = {
    "edoc.edxml": None,
    "edoc_new.edxml": BusinessDocType.NEW,
    "edoc_revocation.edxml": BusinessDocType.REVOCATION,
    "edoc_update.edxml": BusinessDocType.UPDATE,
    "edoc_replacement.edxml": BusinessDocType.REPLACEMENT,
}
STATUSES = {
    "status.edxml": StatusCode.ARRIVED,
    "status_inbox_01.edxml": StatusCode.ARRIVED,
    "status_rejection_02.edxml": StatusCode.REFUSED,
    "status_acceptance_03.edxml": StatusCode.ACCEPTED,
    "status_assignment_04.edxml": StatusCode.ASSIGNED,
    "status_processing_05.edxml": StatusCode.PROCESSING,
    "status_finish_06.edxml": StatusCode.COMPLETED,
    "status_cancellation_13.edxml": StatusCode.TAKE_BACK,
    "status_change-acceptance_15.edxml": StatusCode.CHANGE_AGREED,
    "status_change-rejection_16.edxml": StatusCode.CHANGE_REFUSED,
}
ALL = sorted({**EDOCS, **STATUSES})


def read(samples: Path, name: str) -> Edoc | StatusMessage:
    return read_packet((samples / name).read_bytes(), lenient=name in BROKEN).packet


def test_every_sample_is_covered(vnpt_samples: Path) -> None:
    assert sorted(p.name for p in vnpt_samples.glob("*.edxml")) == ALL


@pytest.mark.parametrize("name", ALL)
def test_sample_reads(vnpt_samples: Path, name: str) -> None:
    result = read_packet((vnpt_samples / name).read_bytes(), lenient=name in BROKEN)
    assert isinstance(result.packet, Edoc if name in EDOCS else StatusMessage)
    assert bool(result.warnings) is (name in BROKEN)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_samples_need_lenient_mode(vnpt_samples: Path, name: str) -> None:
    with pytest.raises(EnvelopeError) as info:
        read_packet((vnpt_samples / name).read_bytes())
    assert info.value.code == "malformed_xml"


@pytest.mark.parametrize("name", ALL)
def test_re_serialising_keeps_every_field(vnpt_samples: Path, name: str) -> None:
    first = read(vnpt_samples, name)
    data = encode_edoc(first) if isinstance(first, Edoc) else encode_status(first)
    root = parse(data).root
    validate(root)
    second = decode(root)
    assert second.warnings == ()
    assert second.packet == first


@pytest.mark.parametrize(("name", "code"), sorted(STATUSES.items()))
def test_status_codes(vnpt_samples: Path, name: str, code: StatusCode) -> None:
    status = read(vnpt_samples, name)
    assert isinstance(status, StatusMessage)
    assert status.status_code is code
    assert status.response_for.document_id
    assert status.timestamp.tzinfo is not None


@pytest.mark.parametrize(("name", "doc_type"), sorted((k, v) for k, v in EDOCS.items() if v))
def test_business_types(vnpt_samples: Path, name: str, doc_type: BusinessDocType) -> None:
    edoc = read(vnpt_samples, name)
    assert isinstance(edoc, Edoc)
    assert edoc.business.doc_type is doc_type
    assert edoc.other_info.direction is False
    (attachment,) = edoc.attachments
    assert attachment.content_id == "cid:209"
    assert attachment.name == "1896_QD-TTg_m_294779.doc"
    assert attachment.content_type == "application/msword"
    # the payload is a real ZIP holding one file; we hand out the unzipped bytes
    assert attachment.data.startswith(b'<?xml version="1.0"')


def test_update_and_replacement_details(vnpt_samples: Path) -> None:
    update = read(vnpt_samples, "edoc_update.edxml")
    assert isinstance(update, Edoc)
    (info,) = update.business.document_infos
    assert [(str(r.organ_id), r.receiver_type) for r in info.receivers] == [
        ("000.00.00.H41", 0),
        ("000.00.00.H14", 1),
    ]
    assert len(update.to) == 3
    replacement = read(vnpt_samples, "edoc_replacement.edxml")
    assert isinstance(replacement, Edoc)
    assert len(replacement.business.replacements) == 2
    assert replacement.business.replacements[0].organ_ids == (
        OrganId("000.00.00.H41"),
        OrganId("000.00.00.H14"),
    )
    revocation = read(vnpt_samples, "edoc_revocation.edxml")
    assert isinstance(revocation, Edoc)
    assert revocation.response_for[0].code == "267/VPCP-TTĐT"


def test_old_jmeter_packet(vnpt_samples: Path) -> None:
    result = read_packet((vnpt_samples / "edoc.edxml").read_bytes(), lenient=True)
    edoc = result.packet
    assert isinstance(edoc, Edoc)
    assert edoc.document_id == "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb"
    assert edoc.document_type.type_detail == 0  # absent in the file
    assert edoc.response_for[0].organ_id is None  # all-empty ResponseFor
    (attachment,) = edoc.attachments
    assert attachment.data == b""  # JMeter placeholder instead of base64
    assert attachment.content_type == "application/pdf"
    assert any("placeholder" in w for w in result.warnings)


def test_legacy_and_malformed_organ_ids_from_traffic(vnpt_samples: Path) -> None:
    edoc = read(vnpt_samples, "edoc_new.edxml")
    assert isinstance(edoc, Edoc)
    assert edoc.from_.organ_id.is_legacy
    assert not edoc.to[0].organ_id.is_legacy  # 28.22.H17
    assert edoc.to[0].organ_id.is_strict
