"""Property-based round trips (Vietnamese text, many recipients, many attachments) and the
hostile-input contract: any bytes give a packet or an EnvelopeError, nothing else."""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from envelopes.edxml import (
    AttachmentEncoding,
    assign_content_ids,
    decode_edoc,
    decode_status,
    encode_edoc,
    encode_status,
    guess_content_type,
)
from envelopes.errors import EnvelopeError
from envelopes.model import (
    Attachment,
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentType,
    Edoc,
    OrganId,
    Organization,
    OtherInfo,
    Priority,
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
from envelopes.parser import parse
from envelopes.read import read_packet
from envelopes.schema import validate

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợ"
    "ùủũúụừửữứựỳỷỹýỵĐĂÂÊÔƠƯ"
)
chars = st.one_of(
    st.sampled_from(VIETNAMESE + " ,./-()<>&\"'\t\n\r"),
    st.characters(exclude_categories=("Cs", "Cc", "Cn")),
)
text = st.text(chars, max_size=30)
required_text = text.filter(lambda s: s.strip() != "")
organ_ids = st.from_regex(r"[A-Z0-9.]{1,35}", fullmatch=True).map(OrganId)
small_int = st.integers(0, 999_999_999)
dates = st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31))
moments = st.datetimes(
    min_value=datetime(1001, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
)

organizations = st.builds(
    Organization,
    organ_id=organ_ids,
    organ_name=text,
    organization_in_charge=text,
    organ_add=text,
    email=text,
    telephone=text,
    fax=text,
    website=text,
)
response_fors = st.builds(
    ResponseFor,
    organ_id=st.none() | organ_ids,
    code=text,
    promulgation_date=st.none() | dates,
    document_id=text,
)
staff = st.builds(StaffInfo, department=text, staff=text, mobile=text, email=text)
business = st.builds(
    Business,
    doc_type=st.integers(0, 3),
    reason=text,
    document_id=text,
    paper=st.none() | small_int,
    document_infos=st.lists(
        st.builds(
            BusinessDocumentInfo,
            document_info=st.none() | small_int,
            document_receiver=st.none() | small_int,
            receivers=st.lists(
                st.builds(Receiver, organ_ids, st.none() | small_int), max_size=3
            ).map(tuple),
        ),
        max_size=2,
    ).map(tuple),
    replacements=st.lists(
        st.builds(ReplacementInfo, text, st.lists(organ_ids, max_size=3).map(tuple)), max_size=2
    ).map(tuple),
    staff_info=st.none() | staff,
)
extensions = st.sampled_from([".pdf", ".docx", ".xlsx", ".txt", ".zip", ".png", ".bin", ""])
attachments = st.builds(
    lambda stem, ext, data, description: Attachment(
        stem + ext, data, guess_content_type(stem + ext), description
    ),
    required_text.filter(lambda s: "." not in s),
    extensions,
    st.binary(max_size=2000),
    text,
)
edocs = st.builds(
    Edoc,
    from_=organizations,
    to=st.lists(organizations, min_size=1, max_size=25).map(tuple),
    document_id=required_text,
    code=st.builds(Code, text, text),
    promulgation_info=st.builds(PromulgationInfo, text, dates),
    document_type=st.builds(DocumentType, small_int, small_int, text),
    subject=required_text,
    content=text,
    signer_info=st.builds(SignerInfo, text, text, text),
    due_date=st.none() | dates,
    other_info=st.builds(
        OtherInfo,
        priority=st.none() | st.sampled_from(list(Priority)),
        sphere_of_promulgation=text,
        typer_notation=text,
        promulgation_amount=st.none() | small_int,
        page_amount=st.none() | small_int,
        direction=st.none() | st.booleans(),
        appendixes=st.lists(text, max_size=3).map(tuple),
    ),
    response_for=st.lists(response_fors, max_size=3).map(tuple),
    steering_type=st.integers(0, 2),
    to_places=st.lists(text, max_size=4).map(tuple),
    trace_headers=st.lists(st.builds(TraceHeader, st.none() | organ_ids, moments), max_size=3).map(
        tuple
    ),
    business=business,
    attachments=st.lists(attachments, max_size=12).map(tuple),
)
statuses = st.builds(
    StatusMessage,
    from_=organizations,
    response_for=response_fors,
    staff_info=staff,
    status_code=st.sampled_from(list(StatusCode)),
    description=text,
    timestamp=moments,
)


@PROPERTY
@given(edocs)
def test_edoc_round_trip_zip(edoc: Edoc) -> None:
    root = parse(encode_edoc(edoc)).root
    validate(root)
    assert decode_edoc(root) == assign_content_ids(edoc)


@PROPERTY
@given(edocs.filter(lambda e: not any(a.data.startswith(b"PK\x03\x04") for a in e.attachments)))
def test_edoc_round_trip_raw(edoc: Edoc) -> None:
    root = parse(encode_edoc(edoc, encoding=AttachmentEncoding.RAW)).root
    validate(root)
    assert decode_edoc(root) == assign_content_ids(edoc)


@PROPERTY
@given(statuses)
def test_status_round_trip(status: StatusMessage) -> None:
    root = parse(encode_status(status)).root
    validate(root)
    assert decode_status(root) == status


def _read_any(data: bytes, lenient: bool) -> None:
    with contextlib.suppress(EnvelopeError):
        read_packet(data, lenient=lenient)


@PROPERTY
@given(edocs, st.data(), st.booleans())
def test_mutated_packets_give_a_value_or_an_envelope_error(
    edoc: Edoc, data: st.DataObject, lenient: bool
) -> None:
    packet = bytearray(encode_edoc(edoc))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(packet) - 1))
        packet[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(packet)))
    _read_any(bytes(packet[:cut]) if data.draw(st.booleans()) else bytes(packet), lenient)


@PROPERTY
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_give_an_envelope_error(data: bytes, lenient: bool) -> None:
    _read_any(data, lenient)


@PROPERTY
@given(edocs, st.data(), st.booleans())
def test_structurally_mutated_packets_give_a_value_or_an_envelope_error(
    edoc: Edoc, data: st.DataObject, lenient: bool
) -> None:
    root = parse(encode_edoc(edoc)).root
    elements = [el for el in root.iter() if el is not root]
    for _ in range(data.draw(st.integers(1, 3))):
        el = data.draw(st.sampled_from(elements))
        parent = el.getparent()
        action = data.draw(st.sampled_from(["text", "drop", "duplicate", "move"]))
        if action == "text":
            el.text = data.draw(
                st.one_of(text, st.sampled_from(["", "-1", "PK", "QQ==", "x" * 40]))
            )
        elif parent is not None and action == "drop":
            parent.remove(el)
        elif parent is not None and action == "duplicate":
            parent.append(copy.deepcopy(el))
        elif parent is not None:
            parent.insert(0, el)
    _read_any(etree.tostring(root), lenient)
