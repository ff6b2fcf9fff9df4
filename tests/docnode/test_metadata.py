"""Metadata (what clerks and tools write) -> Edoc / StatusMessage."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from docnode.errors import ValidationFailed
from docnode.metadata import FileInput, edoc_from_metadata, status_from_metadata
from envelopes.model import StatusCode

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _meta(**over: object) -> dict[str, object]:
    meta: dict[str, object] = {
        "from": {"organ_id": "000.00.00.G22", "organ_name": "Văn phòng Chính phủ"},
        "to": ["000.00.00.H41", {"organ_id": "000.00.00.H14", "organ_name": "UBND Cao Bằng"}],
        "code": "7816/VPCP-TTĐT",
        "subject": "V/v kết nối, liên thông phần mềm quản lý văn bản",
        "promulgation": {"place": "Hà Nội", "date": "2026/11/30"},
        "due_date": "2026-12-31",
        "priority": 1,
    }
    meta.update(over)
    return meta


def test_full_metadata_builds_an_edoc_with_derived_fields() -> None:
    edoc = edoc_from_metadata(_meta(), [FileInput("qd.pdf", b"%PDF-1.7", "application/pdf")],
                              now=NOW)
    assert str(edoc.from_.organ_id) == "000.00.00.G22"
    assert [str(t.organ_id) for t in edoc.to] == ["000.00.00.H41", "000.00.00.H14"]
    assert edoc.code.code_number == "7816" and edoc.code.code_notation == "VPCP-TTĐT"
    assert edoc.document_id == "000.00.00.G22,2026/11/30,7816/VPCP-TTĐT"
    assert edoc.promulgation_info.promulgation_date == date(2026, 11, 30)
    assert edoc.due_date == date(2026, 12, 31)
    assert edoc.other_info.priority == 1
    assert edoc.trace_headers[0].organ_id == edoc.from_.organ_id
    assert edoc.trace_headers[0].timestamp == NOW
    assert edoc.attachments[0].name == "qd.pdf"


def test_every_bad_field_is_reported() -> None:
    bad = _meta(to=["not an organ id!", 5], code="nonotation", subject="", priority="x",
                colour="blue")
    with pytest.raises(ValidationFailed) as info:
        edoc_from_metadata(bad, [], now=NOW)
    fields = {e["field"] for e in info.value.detail["errors"]}  # type: ignore[union-attr]
    assert {"to[0].organ_id", "to[1]", "code", "subject", "priority", "colour"} <= fields
    assert info.value.code == "validation_failed"


def test_missing_recipients_and_duplicates() -> None:
    with pytest.raises(ValidationFailed) as info:
        edoc_from_metadata(_meta(to=[]), [], now=NOW)
    assert info.value.detail["errors"][0]["field"] == "to"  # type: ignore[index]
    with pytest.raises(ValidationFailed):
        edoc_from_metadata(_meta(to=["000.00.00.H41", "000.00.00.H41"]), [], now=NOW)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        edoc_from_metadata(_meta(), [], now=datetime(2026, 1, 1))


def test_status_metadata() -> None:
    status = status_from_metadata(
        {
            "from": {"organ_id": "000.00.00.H41"},
            "response_for": {"organ_id": "000.00.00.G22", "code": "7816/VPCP-TTĐT",
                             "promulgation_date": "2026-11-30",
                             "document_id": "000.00.00.G22,2026/11/30,7816/VPCP-TTĐT"},
            "status_code": "03",
        },
        now=NOW,
    )
    assert status.status_code is StatusCode.ACCEPTED
    assert status.timestamp == NOW


def test_refusal_needs_a_reason() -> None:
    with pytest.raises(ValidationFailed) as info:
        status_from_metadata(
            {"from": {"organ_id": "000.00.00.H41"},
             "response_for": {"document_id": "X"}, "status_code": "02"},
            now=NOW,
        )
    assert {e["field"] for e in info.value.detail["errors"]} == {"description"}  # type: ignore[union-attr]
