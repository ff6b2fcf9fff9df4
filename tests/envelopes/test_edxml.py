"""edXML encode/decode: round trips, exact VNPT layout, attachments and their hostile forms."""

from __future__ import annotations

import base64
import copy
import dataclasses
import io
import zipfile
from datetime import UTC, date, datetime

import pytest
from lxml import etree

from envelopes.edxml import (
    NS,
    AttachmentEncoding,
    PacketKind,
    assign_content_ids,
    decode,
    decode_edoc,
    decode_packet,
    decode_status,
    encode_edoc,
    encode_status,
    guess_content_type,
    packet_kind,
)
from envelopes.errors import EnvelopeError, InvalidField
from envelopes.limits import Limits
from envelopes.model import (
    VN_TZ,
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Code,
    DocumentType,
    Edoc,
    OrganId,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusMessage,
    TraceHeader,
)

DS = "http://www.w3.org/2000/09/xmldsig#"
G22, H41, H14 = OrganId("000.00.00.G22"), OrganId("000.00.00.H41"), OrganId("000.00.00.H14")
PDF = b"%PDF-1.4 v\xc4\x83n b\xe1\xba\xa3n\n" * 50


def org(organ_id: OrganId, name: str) -> Organization:
    return Organization(
        organ_id,
        organ_name=name,
        organization_in_charge="Chính phủ",
        organ_add="Số 1 Hoàng Hoa Thám, Ba Đình, Hà Nội",
        email="vpcp@gov.vn",
        telephone="080 43100",
        fax="04",
        website="vpcp.vn",
    )


def full_edoc(attachments: tuple[Attachment, ...] | None = None) -> Edoc:
    return Edoc(
        from_=org(G22, "Văn phòng Chính phủ"),
        to=(org(H41, "UBND Tỉnh Nghệ An"), org(H14, "UBND Tỉnh Cao Bằng")),
        document_id="000.00.00.G22,2024/05/06,7816/VPCP-TTĐT",
        code=Code("7816", "VPCP-TTĐT"),
        promulgation_info=PromulgationInfo("Hà Nội", date(2024, 5, 6)),
        document_type=DocumentType(1, 0, "Công văn"),
        subject="V/v kết nối, liên thông phần mềm quản lý văn bản",
        content='Nội dung <đặc biệt> & "trích dẫn"',
        signer_info=SignerInfo("TL. BỘ TRƯỞNG", "Cục trưởng", "Nguyễn Thành Phúc"),
        due_date=date(2024, 6, 1),
        other_info=OtherInfo(
            priority=1,
            sphere_of_promulgation="Liên thông văn bản quốc gia",
            typer_notation="TVC",
            promulgation_amount=2,
            page_amount=22,
            direction=False,
            appendixes=("Phụ lục I", "Phụ lục II"),
        ),
        response_for=(
            ResponseFor(H41, "267/UBND", date(2024, 4, 1), "000.00.00.H41,2024/04/01,267/UBND"),
        ),
        steering_type=1,
        to_places=("Các bộ", "UBND các tỉnh, TP"),
        trace_headers=(TraceHeader(G22, datetime(2024, 5, 6, 1, 2, 3, tzinfo=UTC)),),
        business=Business(
            doc_type=BusinessDocType.UPDATE,
            reason="Cập nhật văn bản điện tử",
            document_id="000.00.00.G22,2024/05/01,7806/VPCP-TTĐT",
            paper=0,
            document_infos=(BusinessDocumentInfo(1, 1, (Receiver(H41, 0), Receiver(H14, 1))),),
            replacements=(ReplacementInfo("old-doc", (H41, H14)),),
            staff_info=StaffInfo("Văn thư", "Nguyễn Thị Ngọc Trâm", "84912000001", "vt@gov.vn"),
        ),
        attachments=(
            (
                Attachment("Công văn 7816.pdf", PDF, "application/pdf", "Văn bản chính"),
                Attachment("phu-luc.docx", b"PK-not-really", guess_content_type("phu-luc.docx")),
            )
            if attachments is None
            else attachments
        ),
    )


def a_status() -> StatusMessage:
    return StatusMessage(
        from_=org(H41, "UBND Tỉnh Nghệ An"),
        response_for=ResponseFor(G22, "7816/VPCP-TTĐT", date(2024, 5, 6), "doc-1"),
        staff_info=StaffInfo("Văn thư", "Trâm", "0912", "vt@nghean.gov.vn"),
        status_code=StatusCode.REFUSED,
        description="Từ chối: sai thẩm quyền",
        timestamp=datetime(2024, 5, 6, 10, 11, 12, tzinfo=VN_TZ),
    )


def tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


def local(el: etree._Element) -> str:
    return etree.QName(el).localname


def code_of(fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(EnvelopeError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value.code


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", list(AttachmentEncoding))
def test_edoc_round_trip(encoding: AttachmentEncoding) -> None:
    doc = full_edoc()
    back = decode_edoc(tree(encode_edoc(doc, encoding=encoding)))
    assert back == assign_content_ids(doc)
    assert back.attachments[0].data == PDF
    assert back.attachments[0].content_type == "application/pdf"


def test_status_round_trip() -> None:
    status = a_status()
    assert decode_status(tree(encode_status(status))) == status
    assert decode_packet(tree(encode_status(status))) == status


def test_minimal_edoc_round_trip() -> None:
    doc = Edoc(
        from_=Organization(G22),
        to=(Organization(H41),),
        document_id="d",
        code=Code("", ""),
        promulgation_info=PromulgationInfo("", date(2024, 1, 1)),
        document_type=DocumentType(0),
        subject="s",
    )
    assert decode_edoc(tree(encode_edoc(doc))) == doc


def test_output_is_deterministic() -> None:
    assert encode_edoc(full_edoc()) == encode_edoc(full_edoc())
    assert encode_status(a_status()) == encode_status(a_status())


def test_packet_kind() -> None:
    assert packet_kind(tree(encode_edoc(full_edoc()))) is PacketKind.EDOC
    assert packet_kind(tree(encode_status(a_status()))) is PacketKind.STATUS
    assert code_of(decode_status, tree(encode_edoc(full_edoc()))) == "not_edxml"
    assert code_of(decode_edoc, tree(encode_status(a_status()))) == "not_edxml"


# --- layout (§2.3.1–2.3.2, §2.4) -----------------------------------------------------------------


def test_vnpt_layout() -> None:
    data = encode_edoc(full_edoc())
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="' + NS.encode())
    root = tree(data)
    assert root.tag == q("edXML")
    assert not root.prefix
    envelope, encoded = list(root)
    assert envelope.tag == q("edXMLEnvelope") and envelope.prefix == "edXML"
    assert envelope.nsmap["edXML"] == NS
    assert all(el.prefix == "edXML" for el in envelope.iter() if isinstance(el.tag, str))
    assert encoded.tag == q("AttachmentEncoded")
    assert not encoded.prefix
    header, body = list(envelope)
    assert [local(c) for c in header] == ["MessageHeader", "TraceHeaderList"]
    assert [local(c) for c in body] == ["edXMLManifest"]
    assert body[0].get("version") == "1.0"
    assert not list(root.iter(f"{{{DS}}}Signature", q("Signature")))
    assert b'<edXML:ContentTransferEncoded xmlns:edXML="' + NS.encode() + b'">' in data


def test_message_header_order_and_formats() -> None:
    mh = tree(encode_edoc(full_edoc())).find(f".//{q('MessageHeader')}")
    assert mh is not None
    assert [local(c) for c in mh] == [
        "From", "To", "To", "DocumentId", "Code", "PromulgationInfo", "DocumentType", "Subject",
        "Content", "SignerInfo", "DueDate", "OtherInfo", "ResponseFor", "SteeringType", "ToPlaces",
    ]  # fmt: skip
    assert [local(c) for c in mh[0]] == [
        "OrganId", "OrganizationInCharge", "OrganName", "OrganAdd", "Email", "Telephone", "Fax",
        "Website",
    ]  # fmt: skip
    assert mh.findtext(f"{q('PromulgationInfo')}/{q('PromulgationDate')}") == "2024/05/06"
    assert mh.findtext(q("DueDate")) == "2024/06/01"
    trace = mh.getparent()[1]  # type: ignore[index]
    assert [local(c) for c in trace] == ["TraceHeader", "Bussiness"]
    # 01:02:03 UTC is 08:02:03 in Vietnam (UTC+7)
    assert trace.findtext(f"{q('TraceHeader')}/{q('Timestamp')}") == "2024/05/06 08:02:03"
    assert [local(c) for c in trace[1]] == [
        "DocumentId", "BussinessDocType", "BussinessDocReason", "Paper", "BussinessDocumentInfo",
        "ReplacementInfoList", "StaffInfo",
    ]  # fmt: skip


def test_status_layout() -> None:
    root = tree(encode_status(a_status()))
    (envelope,) = list(root)
    (header,) = list(envelope)
    (mh,) = list(header)
    assert [local(c) for c in mh] == [
        "From", "ResponseFor", "StaffInfo", "StatusCode", "Description", "Timestamp",
    ]  # fmt: skip
    assert mh.findtext(q("StatusCode")) == "02"
    assert mh.findtext(q("Timestamp")) == "2024/05/06 10:11:12"


def test_empty_fields_are_left_out() -> None:
    doc = dataclasses.replace(full_edoc(), content="", due_date=None, to_places=())
    mh = tree(encode_edoc(doc)).find(f".//{q('MessageHeader')}")
    assert mh is not None
    names = [local(c) for c in mh]
    assert "Content" not in names and "DueDate" not in names and "ToPlaces" not in names


# --- attachments (§2.3.4) ------------------------------------------------------------------------


def attachment_elements(root: etree._Element) -> list[etree._Element]:
    return root.findall(f"{q('AttachmentEncoded')}/{q('Attachment')}")


def test_zip_attachment_shape() -> None:
    root = tree(encode_edoc(full_edoc()))
    refs = root.findall(f".//{q('Reference')}")
    atts = attachment_elements(root)
    assert len(refs) == len(atts) == 2
    for ref, att in zip(refs, atts, strict=True):
        assert ref.findtext(q("ContentId")) == att.findtext(q("ContentId"))
        assert att.findtext(q("ContentId")).startswith("cid:")  # type: ignore[union-attr]
        assert att.findtext(q("ContentType")) == "application/zip"
        assert ref.findtext(q("ContentType")) == "application/zip"
    assert atts[0].findtext(q("AttachmentName")) == "Công văn 7816.pdf"
    payload = atts[0].findtext(q("ContentTransferEncoded"))
    assert payload is not None and "\n" not in payload
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(payload)))
    (entry,) = archive.infolist()
    assert entry.filename.endswith(".pdf") and len(entry.filename) == 32 + 4
    assert entry.date_time == (1980, 1, 1, 0, 0, 0)
    assert archive.read(entry) == PDF


def test_raw_attachment_shape() -> None:
    root = tree(encode_edoc(full_edoc(), encoding=AttachmentEncoding.RAW))
    att = attachment_elements(root)[0]
    assert att.findtext(q("ContentType")) == "application/pdf"
    assert base64.b64decode(att.findtext(q("ContentTransferEncoded")) or "") == PDF


def test_raw_refuses_zip_looking_bytes() -> None:
    doc = full_edoc((Attachment("x.zip", b"PK\x03\x04rest", "application/zip"),))
    assert code_of(encode_edoc, doc, encoding=AttachmentEncoding.RAW) == "invalid_field"
    # the default (ZIP) wraps it once more and gives the same bytes back
    assert decode_edoc(tree(encode_edoc(doc))).attachments[0].data == b"PK\x03\x04rest"


def test_explicit_content_ids_are_kept() -> None:
    doc = full_edoc((Attachment("a.txt", b"a", "text/plain", content_id="cid:209"),))
    root = tree(encode_edoc(doc))
    assert root.findtext(f".//{q('Reference')}/{q('ContentId')}") == "cid:209"
    assert decode_edoc(root) == doc


def test_same_file_twice_gets_distinct_content_ids() -> None:
    doc = full_edoc((Attachment("a.txt", b"a", "text/plain"),) * 2)
    ids = [a.content_id for a in decode_edoc(tree(encode_edoc(doc))).attachments]
    assert len(set(ids)) == 2


def with_payload(payload: str, *, limits: Limits | None = None, lenient: bool = False) -> Edoc:
    root = tree(encode_edoc(full_edoc((Attachment("a.pdf", b"x", "application/pdf"),))))
    cte = root.find(f".//{q('ContentTransferEncoded')}")
    assert cte is not None
    cte.text = payload
    return decode_edoc(root, limits=limits or Limits(), lenient=lenient)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def zipped(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "payload",
    [
        "QR==",
        "QQ=",
        "Q Q==",
        "QQ==\n",
        "QQ==QQ==",
        "@@@@",
        "${__StringFromFile(test.txt,,,)}",
        "QQ",
    ],
)
def test_non_canonical_base64_is_refused(payload: str) -> None:
    assert code_of(with_payload, payload) == "attachment_invalid"


def test_lenient_tolerates_whitespace_and_placeholders() -> None:
    doc = with_payload("eA\n==", lenient=True)
    assert doc.attachments[0].data == b"x"
    assert with_payload("${__StringFromFile(test.txt,,,)}", lenient=True).attachments[0].data == b""
    root = tree(encode_edoc(full_edoc((Attachment("a.pdf", b"x", "application/pdf"),))))
    root.find(f".//{q('ContentTransferEncoded')}").text = "${x}"  # type: ignore[union-attr]
    assert len(decode(root, lenient=True).warnings) == 1


def test_unzips_foreign_single_entry_zip() -> None:
    doc = with_payload(b64(zipped({"0d1f-uuid.pdf": b"hello"})))
    assert doc.attachments[0].data == b"hello"
    assert doc.attachments[0].content_type == "application/pdf"  # the wire type is kept


def test_zip_with_two_entries_is_refused() -> None:
    assert code_of(with_payload, b64(zipped({"a": b"1", "b": b"2"}))) == "attachment_invalid"


def test_zip_bomb_ratio_is_refused() -> None:
    bomb = zipped({"bomb.txt": b"\0" * (4 * 1024 * 1024)})
    assert code_of(with_payload, b64(bomb)) == "attachment_invalid"


def test_zip_declared_size_over_limit() -> None:
    data = zipped({"a.bin": bytes(range(256)) * 64})
    small = Limits(max_attachment_bytes=1000)
    assert code_of(with_payload, b64(data), limits=small) == "attachment_too_large"


def test_raw_size_over_limit() -> None:
    small = Limits(max_attachment_bytes=10)
    assert code_of(with_payload, b64(b"y" * 11), limits=small) == "attachment_too_large"
    assert (
        code_of(with_payload, b64(b"y" * 10_000_000)[:-4], limits=small) == "attachment_too_large"
    )


def test_zip_lying_about_its_size_is_refused() -> None:
    data = bytearray(zipped({"a.txt": b"abcdefgh" * 100}, compression=zipfile.ZIP_STORED))
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")  # declared size: 10
    assert code_of(with_payload, b64(bytes(data))) == "attachment_invalid"


@pytest.mark.parametrize("cut", [10, 40, -30, -5])
def test_corrupt_zip_is_refused(cut: int) -> None:
    data = zipped({"a.txt": b"hello world" * 20})
    broken = data[:cut] if cut > 0 else data[:cut] + b"\x00" * 3
    assert code_of(with_payload, b64(broken)) == "attachment_invalid"


def test_encrypted_zip_entry_is_refused() -> None:
    data = bytearray(zipped({"a.txt": b"hello"}))
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        data[at + offset] |= 0x01
    assert code_of(with_payload, b64(bytes(data))) == "attachment_invalid"


def test_total_attachment_limit() -> None:
    files = tuple(Attachment(f"{i}.bin", bytes([i]) * 600) for i in range(3))
    root = tree(encode_edoc(full_edoc(files)))
    limits = Limits(max_total_attachment_bytes=1500)
    assert code_of(decode_edoc, root, limits=limits) == "attachment_too_large"


def test_too_many_attachments() -> None:
    files = tuple(Attachment(f"{i}.txt", b"x") for i in range(4))
    root = tree(encode_edoc(full_edoc(files)))
    assert code_of(decode_edoc, root, limits=Limits(max_attachments=3)) == "too_many_attachments"


def test_manifest_mismatch() -> None:
    base = tree(encode_edoc(full_edoc()))

    def mutate(change: object) -> str:
        root = copy.deepcopy(base)
        change(root)  # type: ignore[operator]
        return code_of(decode_edoc, root)

    def drop_reference(root: etree._Element) -> None:
        ref = root.find(f".//{q('Reference')}")
        ref.getparent().remove(ref)  # type: ignore[union-attr,arg-type]

    def drop_attachment(root: etree._Element) -> None:
        att = attachment_elements(root)[0]
        att.getparent().remove(att)  # type: ignore[union-attr]

    def rename_cid(root: etree._Element) -> None:
        attachment_elements(root)[0].find(q("ContentId")).text = "cid:other"  # type: ignore[union-attr]

    def duplicate_cid(root: etree._Element) -> None:
        a, b = attachment_elements(root)
        b.find(q("ContentId")).text = a.findtext(q("ContentId"))  # type: ignore[union-attr]

    def empty_cid(root: etree._Element) -> None:
        attachment_elements(root)[0].find(q("ContentId")).text = ""  # type: ignore[union-attr]

    def other_name(root: etree._Element) -> None:
        attachment_elements(root)[0].find(q("AttachmentName")).text = "khác.pdf"  # type: ignore[union-attr]

    for change in (
        drop_reference,
        drop_attachment,
        rename_cid,
        duplicate_cid,
        empty_cid,
        other_name,
    ):
        assert mutate(change) == "manifest_mismatch", change.__name__


# --- reading variants ----------------------------------------------------------------------------


def strip_prefixes(data: bytes) -> etree._Element:
    """The same packet with every element in the default namespace (no edXML: prefix)."""
    root = tree(data)
    out = etree.Element(q("edXML"), nsmap={None: NS})  # type: ignore[dict-item]

    def copy_into(src: etree._Element, dst: etree._Element) -> None:
        for child in src:
            new = etree.SubElement(dst, child.tag)
            for k, v in child.attrib.items():
                new.set(k, v)
            new.text = child.text
            copy_into(child, new)

    copy_into(root, out)
    return tree(etree.tostring(out))


def test_unprefixed_form_reads_the_same() -> None:
    data = encode_edoc(full_edoc())
    unprefixed = strip_prefixes(data)
    assert b"edXML:" not in etree.tostring(unprefixed)
    assert decode_edoc(unprefixed) == decode_edoc(tree(data))


def test_empty_elements_are_absent() -> None:
    root = tree(encode_edoc(full_edoc()))
    mh = root.find(f".//{q('MessageHeader')}")
    assert mh is not None
    for name in ("Content", "DueDate"):
        el = mh.find(q(name))
        el.text = None  # type: ignore[union-attr]
    response = mh.find(q("ResponseFor"))
    for child in response:  # type: ignore[union-attr]
        child.text = None
    back = decode_edoc(root)
    assert back.content == "" and back.due_date is None
    assert back.response_for == (ResponseFor(),)


def test_signature_in_header_is_skipped() -> None:
    data = encode_edoc(full_edoc())
    for tag in (f"{{{DS}}}Signature", q("Signature")):
        root = tree(data)
        header = root.find(f".//{q('edXMLHeader')}")
        sig = etree.SubElement(header, tag)  # type: ignore[arg-type]
        etree.SubElement(sig, f"{{{DS}}}SignedInfo").text = "x"
        assert decode_edoc(root) == decode_edoc(tree(data))


def test_unknown_elements_survive_a_round_trip() -> None:
    root = tree(encode_edoc(full_edoc()))
    other = root.find(f".//{q('OtherInfo')}")
    etree.SubElement(other, q("ReplyFors")).text = "r1"  # type: ignore[arg-type]
    foreign = etree.SubElement(root, "{urn:vendor}Extension")
    foreign.text = "v"
    to2 = root.findall(f".//{q('To')}")[1]
    etree.SubElement(to2, q("DepartmentId")).text = "P1"
    first = decode_edoc(tree(etree.tostring(root)))
    assert {e.parent.rsplit("/", 1)[-1] for e in first.extra} == {"OtherInfo", "edXML", "To[1]"}
    again = tree(encode_edoc(first))
    assert again.findtext(f".//{q('OtherInfo')}/{q('ReplyFors')}") == "r1"
    assert again.findall(f".//{q('To')}")[1].findtext(q("DepartmentId")) == "P1"
    assert decode_edoc(again) == first


def test_duplicate_singletons() -> None:
    root = tree(encode_edoc(full_edoc()))
    mh = root.find(f".//{q('MessageHeader')}")
    etree.SubElement(mh, q("Subject")).text = "second"  # type: ignore[arg-type]
    assert code_of(decode_edoc, root) == "invalid_field"
    lenient = decode(root, lenient=True)
    assert isinstance(lenient.packet, Edoc) and lenient.packet.subject == full_edoc().subject
    assert lenient.warnings


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        ("PromulgationInfo/PromulgationDate", "2024-05-06", "invalid_field"),
        ("DueDate", "2024/13/01", "invalid_field"),
        ("SteeringType", "x", "invalid_field"),
        ("From/OrganId", "vxp.saas.03", "invalid_organ_id"),
        ("From/OrganId", "", "invalid_field"),
        ("OtherInfo/Priority", "9", "invalid_field"),
    ],
)
def test_bad_values(path: str, value: str, code: str) -> None:
    root = tree(encode_edoc(full_edoc()))
    el = root.find(".//" + "/".join(q(p) for p in ("MessageHeader", *path.split("/"))))
    assert el is not None
    el.text = value
    assert code_of(decode_edoc, root) == code


def test_lenient_reads_bad_values_with_warnings() -> None:
    root = tree(encode_edoc(full_edoc()))
    mh = root.find(f".//{q('MessageHeader')}")
    mh.find(q("DueDate")).text = "soon"  # type: ignore[union-attr]
    mh.find(f"{q('From')}/{q('OrganId')}").text = "vxp.saas.03"  # type: ignore[union-attr]
    result = decode(root, lenient=True)
    assert isinstance(result.packet, Edoc)
    assert result.packet.due_date is None
    assert result.packet.from_.organ_id == OrganId("vxp.saas.03")
    assert len(result.warnings) == 2


def test_not_edxml() -> None:
    assert code_of(decode_packet, tree(b"<edXML/>")) == "not_edxml"
    assert code_of(decode_packet, tree(f'<edXML xmlns="{NS}"/>'.encode())) == "not_edxml"
    assert (
        code_of(decode_packet, tree(b'<EdXMLEnvelope xmlns="http://www.go.vn/eDoc"/>'))
        == "not_edxml"
    )


def test_unplaceable_extra_is_refused() -> None:
    from envelopes.model import ExtraElement

    doc = dataclasses.replace(full_edoc(), extra=(ExtraElement("edXML/Nowhere", 0, "<a/>"),))
    with pytest.raises(InvalidField):
        encode_edoc(doc)


def test_spliced_payloads_equal_a_plain_serialisation() -> None:
    data = encode_edoc(full_edoc())
    declaration = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    assert data[len(declaration) :] == etree.tostring(tree(data), encoding="UTF-8")


def test_payload_markup_inside_an_extra_element_still_encodes() -> None:
    from envelopes.model import ExtraElement

    empty = f'<edXML:ContentTransferEncoded xmlns:edXML="{NS}"/>'
    marker = f'<Foo xmlns="urn:vendor">{empty}</Foo>'
    doc = dataclasses.replace(
        full_edoc(), extra=(ExtraElement("edXML/AttachmentEncoded/Attachment", 9, marker),)
    )
    data = encode_edoc(doc)
    assert data.count(empty.encode()) == 1  # the extra's copy, so the tree path was taken
    back = decode_edoc(tree(data))
    assert back.attachments == assign_content_ids(doc).attachments
    assert len(back.extra) == 1


def test_unknown_attributes_survive_a_round_trip() -> None:
    xlink = "http://www.w3.org/1999/xlink"
    root = tree(encode_edoc(full_edoc()))
    trace = root.find(f".//{q('TraceHeaderList')}")
    assert trace is not None
    trace.set("id", "t1")
    trace.set("mustUnderstand", "1")
    root.find(f".//{q('Reference')}").set(f"{{{xlink}}}href", "cid:x")  # type: ignore[union-attr]
    first = decode_edoc(tree(etree.tostring(root)))
    assert {(a.element.rsplit("/", 1)[-1], a.name) for a in first.extra_attributes} == {
        ("TraceHeaderList", "id"),
        ("TraceHeaderList", "mustUnderstand"),
        ("Reference", f"{{{xlink}}}href"),
    }
    again = tree(encode_edoc(first))
    assert again.find(f".//{q('TraceHeaderList')}").get("id") == "t1"  # type: ignore[union-attr]
    assert again.find(f".//{q('Reference')}").get(f"{{{xlink}}}href") == "cid:x"  # type: ignore[union-attr]
    assert decode_edoc(again) == first
    assert decode_edoc(tree(encode_edoc(full_edoc()))).extra_attributes == ()


# --- read_packet (parse → schema → decode) -------------------------------------------------------


def test_read_packet_strict_and_lenient() -> None:
    from envelopes.read import read_packet

    data = encode_edoc(full_edoc())
    result = read_packet(data)
    assert result.packet == assign_content_ids(full_edoc())
    assert result.warnings == ()
    assert result.root.tag == q("edXML")

    root = tree(data)
    etree.SubElement(root.find(f".//{q('OtherInfo')}"), q("ReplyFors")).text = "x"  # type: ignore[arg-type]
    odd = b"12" + etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert code_of(read_packet, odd) == "malformed_xml"
    assert code_of(read_packet, odd[2:]) == "schema_invalid"
    lenient = read_packet(odd, lenient=True)
    assert len(lenient.warnings) == 2  # junk bytes (parser) + unknown element (schema)
    assert isinstance(lenient.packet, Edoc)
    assert [e.parent.rsplit("/", 1)[-1] for e in lenient.packet.extra] == ["OtherInfo"]


def test_read_packet_status() -> None:
    from envelopes.read import read_packet

    assert read_packet(encode_status(a_status())).packet == a_status()
