"""Model constructors enforce the spec rules (§2.3–2.4) and raise InvalidField/InvalidOrganId."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from envelopes.errors import EnvelopeError, InvalidField
from envelopes.model import (
    VN_TZ,
    Attachment,
    Business,
    BusinessDocType,
    Code,
    DocumentType,
    Edoc,
    ExtraAttribute,
    ExtraElement,
    OrganId,
    Organization,
    OtherInfo,
    Priority,
    PromulgationInfo,
    ResponseFor,
    StaffInfo,
    StatusCode,
    StatusMessage,
    SteeringType,
    TraceHeader,
    make_document_id,
)

G22 = OrganId("000.00.00.G22")
H41 = OrganId("000.00.00.H41")


def edoc(**changes: object) -> Edoc:
    fields: dict[str, object] = {
        "from_": Organization(G22, organ_name="Văn phòng Chính phủ"),
        "to": (Organization(H41, organ_name="UBND Tỉnh Nghệ An"),),
        "document_id": "000.00.00.G22,2024/05/06,12/VPCP-TTĐT",
        "code": Code("12", "VPCP-TTĐT"),
        "promulgation_info": PromulgationInfo("Hà Nội", date(2024, 5, 6)),
        "document_type": DocumentType(1, 0, "Công văn"),
        "subject": "V/v kết nối liên thông",
    }
    fields.update(changes)
    return Edoc(**fields)  # type: ignore[arg-type]


def status(**changes: object) -> StatusMessage:
    fields: dict[str, object] = {
        "from_": Organization(H41),
        "response_for": ResponseFor(G22, "12/VPCP-TTĐT", date(2024, 5, 6), "doc-1"),
        "staff_info": StaffInfo(staff="Nguyễn Thị Ngọc Trâm"),
        "status_code": StatusCode.ARRIVED,
        "description": "Đã đến",
        "timestamp": datetime(2024, 5, 6, 10, 0, tzinfo=VN_TZ),
    }
    fields.update(changes)
    return StatusMessage(**fields)  # type: ignore[arg-type]


def test_valid_edoc_has_defaults() -> None:
    doc = edoc()
    assert doc.steering_type is SteeringType.NONE
    assert doc.other_info.priority is Priority.NORMAL
    assert doc.business.doc_type is BusinessDocType.NEW
    assert doc.attachments == ()
    assert str(doc.code) == "12/VPCP-TTĐT"


def test_make_document_id() -> None:
    assert (
        make_document_id(G22, date(2015, 9, 30), Code("7816", "VPCP-TTĐT"))
        == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    )


@pytest.mark.parametrize(
    ("changes", "element"),
    [
        ({"to": ()}, "To"),
        ({"to": [Organization(H41)]}, "To"),
        ({"document_id": ""}, "DocumentId"),
        ({"subject": "   "}, "Subject"),
        ({"subject": "bad\x01text"}, "Subject"),
        ({"steering_type": 7}, "SteeringType"),
        ({"due_date": datetime(2024, 1, 1, tzinfo=UTC)}, "DueDate"),
        ({"to_places": ("ok", 3)}, "ToPlaces"),
        (
            {"attachments": (Attachment("a.pdf", b"1", content_id="cid:1"),) * 2},
            "ContentId",
        ),
    ],
)
def test_edoc_rejects(changes: dict[str, object], element: str) -> None:
    with pytest.raises(InvalidField) as info:
        edoc(**changes)
    assert info.value.code == "invalid_field"
    assert info.value.element == element


@pytest.mark.parametrize(
    ("factory", "element"),
    [
        (lambda: Organization("000.00.00.G22"), "OrganId"),  # type: ignore[arg-type]
        (lambda: Organization(G22, email="a\x0bb"), "Email"),
        (lambda: OtherInfo(priority=5), "Priority"),
        (lambda: OtherInfo(page_amount=-1), "PageAmount"),
        (lambda: OtherInfo(page_amount=True), "PageAmount"),
        (lambda: OtherInfo(direction="false"), "Direction"),  # type: ignore[arg-type]
        (lambda: Business(doc_type=4), "BussinessDocType"),
        (lambda: DocumentType(type=-1), "Type"),
        (lambda: PromulgationInfo("x", "2024/01/01"), "PromulgationDate"),  # type: ignore[arg-type]
        (lambda: Attachment("", b""), "AttachmentName"),
        (lambda: Attachment("a", "text"), "Attachment"),  # type: ignore[arg-type]
        (lambda: Attachment("a", b"", content_id="cid: 1"), "ContentId"),
        (lambda: TraceHeader(G22, datetime(2024, 1, 1)), "Timestamp"),  # naive
        (lambda: ExtraElement("edXML", 0, "<not-closed>"), "ExtraElement.xml"),
        (lambda: ExtraElement("", 0, "<a/>"), "ExtraElement.parent"),
        (lambda: ExtraElement("edXML", 0, "<a>&ent;</a>"), "ExtraElement.xml"),
        (lambda: ExtraAttribute("edXML", "bad name", "v"), "ExtraAttribute.name"),
        (lambda: ExtraAttribute("", "id", "v"), "ExtraAttribute.element"),
    ],
)
def test_parts_reject(factory: object, element: str) -> None:
    with pytest.raises(InvalidField) as info:
        factory()  # type: ignore[operator]
    assert info.value.element == element


def test_text_allows_tab_newline_and_cr() -> None:
    assert edoc(subject="a\tb\nc\rd").subject == "a\tb\nc\rd"


def test_timestamps_are_normalised_to_vietnam_time_whole_seconds() -> None:
    hop = TraceHeader(None, datetime(2024, 1, 1, 3, 0, 0, 999_999, tzinfo=UTC))
    assert hop.timestamp.utcoffset() == timedelta(hours=7)
    assert hop.timestamp == datetime(2024, 1, 1, 10, 0, 0, tzinfo=VN_TZ)
    other = TraceHeader(None, datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=9))))
    assert other.timestamp.hour == 10


def test_enums_are_normalised() -> None:
    assert edoc(steering_type=1).steering_type is SteeringType.STEERING
    assert Business(doc_type=3).doc_type is BusinessDocType.REPLACEMENT
    assert status(status_code="13").status_code is StatusCode.TAKE_BACK


def test_status_codes_and_meanings() -> None:
    assert [c.value for c in StatusCode] == ["01", "02", "03", "04", "05", "06", "13", "15", "16"]
    assert all(c.meaning for c in StatusCode)
    assert [int(t) for t in BusinessDocType] == [0, 1, 2, 3]


@pytest.mark.parametrize("code", ["07", "1", "", 1])
def test_status_rejects_unknown_codes(code: object) -> None:
    with pytest.raises(InvalidField) as info:
        status(status_code=code)
    assert info.value.element == "StatusCode"


def test_status_requires_aware_timestamp() -> None:
    with pytest.raises(InvalidField):
        status(timestamp=datetime(2024, 1, 1))


def test_models_are_frozen_and_hashable() -> None:
    doc = edoc()
    with pytest.raises(AttributeError):
        doc.subject = "x"  # type: ignore[misc]
    assert hash(doc.code) == hash(Code("12", "VPCP-TTĐT"))


def test_extra_element_round_trips_its_fragment() -> None:
    extra = ExtraElement("edXML/edXMLEnvelope", 1, '<x:Foo xmlns:x="urn:x">t</x:Foo>')
    assert extra.element().text == "t"


def test_every_error_is_an_envelope_error() -> None:
    with pytest.raises(EnvelopeError):
        Organization(OrganId("G22"), fax="\x00")
