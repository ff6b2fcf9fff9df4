"""The edXML XSDs: what we emit validates; order, unknown elements, signatures (§2.3–2.4)."""

from __future__ import annotations

import copy
from datetime import date, datetime

import pytest
from lxml import etree

from envelopes.edxml import NS, encode_edoc, encode_status
from envelopes.errors import SchemaInvalid
from envelopes.model import (
    VN_TZ,
    Attachment,
    Code,
    DocumentType,
    Edoc,
    OrganId,
    Organization,
    PromulgationInfo,
    ResponseFor,
    StaffInfo,
    StatusCode,
    StatusMessage,
)
from envelopes.schema import validate, validate_lenient

DS = "http://www.w3.org/2000/09/xmldsig#"


def q(name: str) -> str:
    return f"{{{NS}}}{name}"


def edoc_bytes() -> bytes:
    return encode_edoc(
        Edoc(
            from_=Organization(OrganId("000.00.00.G22"), organ_name="Văn phòng Chính phủ"),
            to=(Organization(OrganId("000.00.00.H41")),),
            document_id="000.00.00.G22,2024/05/06,1/VPCP",
            code=Code("1", "VPCP"),
            promulgation_info=PromulgationInfo("Hà Nội", date(2024, 5, 6)),
            document_type=DocumentType(1, 0, "Công văn"),
            subject="Trích yếu",
            attachments=(Attachment("a.pdf", b"%PDF", "application/pdf"),),
        )
    )


def status_bytes() -> bytes:
    return encode_status(
        StatusMessage(
            from_=Organization(OrganId("000.00.00.H41")),
            response_for=ResponseFor(OrganId("000.00.00.G22"), "1/VPCP", None, "doc"),
            staff_info=StaffInfo(),
            status_code=StatusCode.ARRIVED,
            description="",
            timestamp=datetime(2024, 5, 6, 8, 0, tzinfo=VN_TZ),
        )
    )


def parsed(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def header(root: etree._Element) -> etree._Element:
    found = root.find(f"{q('edXMLEnvelope')}/{q('edXMLHeader')}")
    assert found is not None
    return found


def add_signature(parent: etree._Element, tag: str = f"{{{DS}}}Signature") -> etree._Element:
    sig = etree.SubElement(parent, tag)
    etree.SubElement(sig, f"{{{DS}}}SignedInfo").text = "anything"
    return sig


@pytest.mark.parametrize("factory", [edoc_bytes, status_bytes])
def test_what_we_emit_validates(factory: object) -> None:
    validate(parsed(factory()))  # type: ignore[operator]


@pytest.mark.parametrize("factory", [edoc_bytes, status_bytes])
def test_one_signature_last_in_header(factory: object) -> None:
    for tag in (f"{{{DS}}}Signature", q("Signature")):
        root = parsed(factory())  # type: ignore[operator]
        add_signature(header(root), tag)
        validate(root)


@pytest.mark.parametrize("factory", [edoc_bytes, status_bytes])
def test_two_signatures_are_invalid(factory: object) -> None:
    root = parsed(factory())  # type: ignore[operator]
    add_signature(header(root))
    add_signature(header(root))
    with pytest.raises(SchemaInvalid) as info:
        validate(root)
    assert info.value.code == "schema_invalid"


def test_signature_must_be_last() -> None:
    root = parsed(edoc_bytes())
    sig = add_signature(header(root))
    header(root).insert(1, sig)  # between MessageHeader and TraceHeaderList
    with pytest.raises(SchemaInvalid):
        validate(root)


def test_signature_elsewhere_is_invalid() -> None:
    root = parsed(edoc_bytes())
    add_signature(root.find(f".//{q('MessageHeader')}"))  # type: ignore[arg-type]
    with pytest.raises(SchemaInvalid):
        validate(root)


def test_error_names_element_and_line() -> None:
    text = edoc_bytes().replace(b"<edXML:Subject>", b"<edXML:Subjekt>")
    text = text.replace(b"</edXML:Subject>", b"</edXML:Subjekt>")
    with pytest.raises(SchemaInvalid) as info:
        validate(parsed(text))
    assert info.value.element is not None and "Subjekt" in info.value.element
    expected = next(i for i, ln in enumerate(text.splitlines(), 1) if b"Subjekt" in ln)
    assert info.value.line == expected


def test_missing_required_element() -> None:
    root = parsed(edoc_bytes())
    mh = root.find(f".//{q('MessageHeader')}")
    mh.remove(mh.find(q("Subject")))  # type: ignore[union-attr,arg-type]
    with pytest.raises(SchemaInvalid):
        validate(root)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("PromulgationInfo/PromulgationDate", "06/05/2024"),
        ("DocumentType/Type", "one"),
        ("From/OrganId", "bad id"),
    ],
)
def test_bad_simple_values(path: str, value: str) -> None:
    root = parsed(edoc_bytes())
    el = root.find(".//" + "/".join(q(p) for p in ("MessageHeader", *path.split("/"))))
    el.text = value  # type: ignore[union-attr]
    with pytest.raises(SchemaInvalid):
        validate(root)


def test_unknown_status_code_is_invalid() -> None:
    root = parsed(status_bytes())
    root.find(f".//{q('StatusCode')}").text = "07"  # type: ignore[union-attr]
    with pytest.raises(SchemaInvalid):
        validate(root)


def test_leaf_groups_accept_any_order() -> None:
    root = parsed(edoc_bytes())
    org = root.find(f".//{q('From')}")
    assert org is not None
    org.append(org[0])  # OrganId last
    validate(root)


def test_lenient_restores_order_and_skips_unknown_without_touching_the_tree() -> None:
    root = parsed(edoc_bytes())
    mh = root.find(f".//{q('MessageHeader')}")
    assert mh is not None
    mh.append(mh.find(q("DocumentId")))  # type: ignore[arg-type]
    etree.SubElement(mh, q("ApplicationType")).text = "x"
    before = etree.tostring(root)
    with pytest.raises(SchemaInvalid):
        validate(root)
    warnings = validate_lenient(root)
    assert len(warnings) == 2
    assert etree.tostring(root) == before


def test_lenient_still_refuses_real_breakage() -> None:
    root = parsed(edoc_bytes())
    mh = root.find(f".//{q('MessageHeader')}")
    mh.remove(mh.find(q("From")))  # type: ignore[union-attr,arg-type]
    with pytest.raises(SchemaInvalid):
        validate_lenient(copy.deepcopy(root))


def test_validation_from_several_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    good, bad = edoc_bytes(), edoc_bytes().replace(b"Subject>", b"Subjekt>")

    def check(data: bytes) -> str:
        try:
            validate(parsed(data))
        except SchemaInvalid as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(check, [good, bad] * 20))
    assert results == ["ok", "schema_invalid"] * 20


def test_other_xmldsig_element_in_header_is_invalid() -> None:
    root = parsed(edoc_bytes())
    etree.SubElement(header(root), f"{{{DS}}}Object")
    with pytest.raises(SchemaInvalid) as info:
        validate(root)
    assert info.value.code == "schema_invalid"


def test_schema_compiles_in_a_fresh_thread() -> None:
    import threading

    errors: list[BaseException] = []

    def run() -> None:
        try:
            validate(parsed(status_bytes()))
            validate(parsed(edoc_bytes()))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors == []
