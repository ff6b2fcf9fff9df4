"""Edoc / StatusMessage ⇄ edXML bytes in the exact VNPT layout (spec/edxml.md §2.3–2.4).

Rules:

1. Layout (§2.3.1): root ``edXML`` in the default namespace; ``edXML:edXMLEnvelope`` declares
   the ``edXML`` prefix and everything inside it carries it; ``AttachmentEncoded`` and its
   ``Attachment`` children are unprefixed siblings of the envelope; ``ContentTransferEncoded``
   is prefixed with its own ``xmlns:edXML`` declaration, as the VNPT SDK writes it.
2. Order (§2.3.2–2.4) is the VNPT order of :mod:`envelopes._wire`. Empty text fields are left
   out (the VNPT library's isNullOrEmpty rule); containers the model always has are written.
3. Output is deterministic: UTF-8, ``<?xml version="1.0" encoding="UTF-8"?>``, two-space
   indentation, ContentIds derived from the content (:func:`assign_content_ids`), ZIP entries
   from :mod:`envelopes._attachments`. No Signature is written: ``signature.sign`` adds
   ``ds:Signature`` as the last child of ``edXMLHeader``.
4. Attachments (:mod:`envelopes._attachments`): ZIP by default, labelled ``application/zip``
   on the wire, so a decoded attachment's ``content_type`` is derived from its name
   (:func:`guess_content_type`); use ``AttachmentEncoding.RAW`` to carry any other type.
   Round trip: ``decode_edoc(encode_edoc(e)) == assign_content_ids(e)`` whenever the content
   types follow that rule (always with RAW).
5. Packets built from our models validate against :mod:`envelopes.schema`. ExtraElements
   (kept from a lenient read) are written back where they were and may not.
6. Decoding (see :mod:`envelopes._decode`) matches local names, accepts both prefixed and
   unprefixed forms and empty elements as absent, skips any ``Signature`` in ``edXMLHeader``,
   keeps unknown elements as :class:`~envelopes.model.ExtraElement`, and checks attachments
   strictly against the manifest and the limits. Warnings of lenient mode are data
   (:class:`Decoded`).
7. :func:`prepare_edoc` / :func:`prepare_status` give the same bytes around the place of the
   Signature plus the digest the signature needs, so that :mod:`envelopes.packet` signs what
   it built without parsing it back (:mod:`envelopes._builder` rule 4).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable

from envelopes import _builder as b
from envelopes import _wire as w
from envelopes._attachments import (
    AttachmentEncoding,
    encode_payload,
    guess_content_type,
)
from envelopes._builder import Node, Prepared
from envelopes._decode import (
    Decoded,
    PacketKind,
    decode,
    decode_edoc,
    decode_packet,
    decode_status,
    packet_kind,
)
from envelopes.model import (
    Business,
    Edoc,
    ExtraElement,
    Organization,
    ResponseFor,
    StaffInfo,
    StatusMessage,
)

__all__ = [
    "NS",
    "AttachmentEncoding",
    "Decoded",
    "PacketKind",
    "assign_content_ids",
    "decode",
    "decode_edoc",
    "decode_packet",
    "decode_status",
    "encode_edoc",
    "encode_status",
    "guess_content_type",
    "packet_kind",
    "prepare_edoc",
    "prepare_status",
]

NS = w.NS


def assign_content_ids(edoc: Edoc) -> Edoc:
    """``edoc`` with a ContentId on every attachment: ``cid:<n>.<sha256 prefix>`` from the
    position and the bytes (rule 3). Existing ContentIds are kept."""
    attachments = tuple(
        a if a.content_id == cid else dataclasses.replace(a, content_id=cid)
        for a, cid in zip(edoc.attachments, _content_ids(edoc), strict=True)
    )
    return dataclasses.replace(edoc, attachments=attachments)


def _content_ids(edoc: Edoc) -> list[str]:
    """The ContentId of each attachment, in order (:func:`assign_content_ids`)."""
    taken = {a.content_id for a in edoc.attachments if a.content_id is not None}
    cids = []
    for n, attachment in enumerate(edoc.attachments, start=1):
        if attachment.content_id is not None:
            cids.append(attachment.content_id)
            continue
        cid = f"cid:{n}.{hashlib.sha256(attachment.data).hexdigest()[:16]}"
        while cid in taken:
            cid += "x"
        taken.add(cid)
        cids.append(cid)
    return cids


def encode_edoc(edoc: Edoc, *, encoding: AttachmentEncoding = AttachmentEncoding.ZIP) -> bytes:
    """The unsigned edXML bytes of ``edoc`` (rules 1–5)."""
    root, _ = _edoc_tree(edoc, encoding)
    return b.serialise(root, edoc.extra, edoc.extra_attributes)


def prepare_edoc(
    edoc: Edoc, *, encoding: AttachmentEncoding = AttachmentEncoding.ZIP
) -> Prepared | None:
    """``edoc`` ready to be signed without parsing it back (rule 7), or None when it carries
    extras (those are placed with lxml: sign :func:`encode_edoc`'s bytes instead)."""
    if edoc.extra or edoc.extra_attributes:
        return None
    return b.prepare(*_edoc_tree(edoc, encoding))


def _edoc_tree(  # noqa: PLR0915 - one straight walk down the VNPT element order
    edoc: Edoc, encoding: AttachmentEncoding
) -> tuple[Node, Node]:
    """(the node tree, its ``edXMLHeader`` node); ContentIds as :func:`assign_content_ids`
    gives them."""
    root, envelope = b.root_node()
    header = envelope.sub("edXMLHeader")
    mh = header.sub("MessageHeader")
    _organization(mh, "From", edoc.from_)
    for to in edoc.to:
        _organization(mh, "To", to)
    _text(mh, "DocumentId", edoc.document_id)
    code = _sub(mh, "Code")
    _text(code, "CodeNumber", edoc.code.code_number)
    _text(code, "CodeNotation", edoc.code.code_notation)
    info = _sub(mh, "PromulgationInfo")
    _text(info, "Place", edoc.promulgation_info.place)
    _text(info, "PromulgationDate", w.format_date(edoc.promulgation_info.promulgation_date))
    doc_type = _sub(mh, "DocumentType")
    _text(doc_type, "Type", str(edoc.document_type.type))
    _text(doc_type, "TypeDetail", str(edoc.document_type.type_detail))
    _text(doc_type, "TypeName", edoc.document_type.type_name)
    _text(mh, "Subject", edoc.subject)
    _text(mh, "Content", edoc.content)
    signer = _sub(mh, "SignerInfo")
    _text(signer, "Competence", edoc.signer_info.competence)
    _text(signer, "Position", edoc.signer_info.position)
    _text(signer, "FullName", edoc.signer_info.full_name)
    if edoc.due_date is not None:
        _text(mh, "DueDate", w.format_date(edoc.due_date))
    _other_info(mh, edoc)
    for response in edoc.response_for:
        _response_for(mh, response)
    _text(mh, "SteeringType", str(int(edoc.steering_type)))
    mh_path = "edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
    if edoc.to_places or _needed(edoc.extra, f"{mh_path}/ToPlaces"):
        places = _sub(mh, "ToPlaces")
        for place in edoc.to_places:
            _text(places, "Place", place, keep_empty=True)
    trace = _sub(header, "TraceHeaderList")
    for hop in edoc.trace_headers:
        th = _sub(trace, "TraceHeader")
        if hop.organ_id is not None:
            _text(th, "OrganId", str(hop.organ_id))
        _text(th, "Timestamp", w.format_timestamp(hop.timestamp))
    _business(trace, edoc.business, edoc.extra)
    manifest = envelope.sub("edXMLBody").sub("edXMLManifest", ' version="1.0"')
    encoded = root.sub("AttachmentEncoded")
    for attachment, cid in zip(edoc.attachments, _content_ids(edoc), strict=True):
        b64, wire_type = encode_payload(
            attachment.name, attachment.data, attachment.content_type, encoding
        )
        ref = _sub(manifest, "Reference")
        _text(ref, "ContentId", cid)
        _text(ref, "ContentType", wire_type)
        _text(ref, "Description", attachment.description)
        _text(ref, "AttachmentName", attachment.name)
        att = encoded.sub("Attachment")
        _text(att, "ContentId", cid)
        _text(att, "AttachmentName", attachment.name)
        _text(att, "Description", attachment.description)
        _text(att, "ContentType", wire_type)
        att.payload_child(b64)
    return root, header


def encode_status(status: StatusMessage) -> bytes:
    """The unsigned edXML bytes of a status packet (§2.4; rules 1–3)."""
    root, _ = _status_tree(status)
    return b.serialise(root, status.extra, status.extra_attributes)


def prepare_status(status: StatusMessage) -> Prepared | None:
    """:func:`prepare_edoc` for a status packet."""
    if status.extra or status.extra_attributes:
        return None
    return b.prepare(*_status_tree(status))


def _status_tree(status: StatusMessage) -> tuple[Node, Node]:
    """(the node tree, its ``edXMLHeader`` node)."""
    root, envelope = b.root_node()
    header = envelope.sub("edXMLHeader")
    mh = header.sub("MessageHeader")
    _organization(mh, "From", status.from_)
    _response_for(mh, status.response_for)
    _staff_info(mh, status.staff_info)
    _text(mh, "StatusCode", status.status_code.value)
    _text(mh, "Description", status.description)
    _text(mh, "Timestamp", w.format_timestamp(status.timestamp))
    return root, header


# --- building blocks ---------------------------------------------------------------------------


def _sub(parent: Node, name: str) -> Node:
    return parent.sub(name)


def _text(parent: Node, name: str, value: str, *, keep_empty: bool = False) -> None:
    if value or keep_empty:
        parent.sub(name).text = value


def _organization(parent: Node, name: str, org: Organization) -> None:
    el = _sub(parent, name)
    _text(el, "OrganId", str(org.organ_id))
    _text(el, "OrganizationInCharge", org.organization_in_charge)
    _text(el, "OrganName", org.organ_name)
    _text(el, "OrganAdd", org.organ_add)
    _text(el, "Email", org.email)
    _text(el, "Telephone", org.telephone)
    _text(el, "Fax", org.fax)
    _text(el, "Website", org.website)


def _response_for(parent: Node, response: ResponseFor) -> None:
    el = _sub(parent, "ResponseFor")
    if response.organ_id is not None:
        _text(el, "OrganId", str(response.organ_id))
    _text(el, "Code", response.code)
    if response.promulgation_date is not None:
        _text(el, "PromulgationDate", w.format_date(response.promulgation_date))
    _text(el, "DocumentId", response.document_id)


def _staff_info(parent: Node, staff: StaffInfo) -> None:
    el = _sub(parent, "StaffInfo")
    _text(el, "Department", staff.department)
    _text(el, "Staff", staff.staff)
    _text(el, "Mobile", staff.mobile)
    _text(el, "Email", staff.email)


def _opt_int(parent: Node, name: str, value: int | None) -> None:
    if value is not None:
        _text(parent, name, str(int(value)))


def _other_info(parent: Node, edoc: Edoc) -> None:
    other = edoc.other_info
    el = _sub(parent, "OtherInfo")
    _opt_int(el, "Priority", other.priority)
    _text(el, "SphereOfPromulgation", other.sphere_of_promulgation)
    _text(el, "TyperNotation", other.typer_notation)
    _opt_int(el, "PromulgationAmount", other.promulgation_amount)
    _opt_int(el, "PageAmount", other.page_amount)
    if other.direction is not None:
        _text(el, "Direction", "true" if other.direction else "false")
    path = "edXML/edXMLEnvelope/edXMLHeader/MessageHeader/OtherInfo/Appendixes"
    if other.appendixes or _needed(edoc.extra, path):
        appendixes = _sub(el, "Appendixes")
        for appendix in other.appendixes:
            _text(appendixes, "Appendix", appendix, keep_empty=True)


def _business(parent: Node, business: Business, extra: Iterable[ExtraElement]) -> None:
    el = _sub(parent, "Bussiness")
    _text(el, "DocumentId", business.document_id)
    _text(el, "BussinessDocType", str(int(business.doc_type)))
    _text(el, "BussinessDocReason", business.reason)
    _opt_int(el, "Paper", business.paper)
    for info in business.document_infos:
        bdi = _sub(el, "BussinessDocumentInfo")
        _opt_int(bdi, "DocumentInfo", info.document_info)
        _opt_int(bdi, "DocumentReceiver", info.document_receiver)
        receivers = _sub(bdi, "ReceiverList")
        for receiver in info.receivers:
            r = _sub(receivers, "Receiver")
            _text(r, "OrganId", str(receiver.organ_id))
            _opt_int(r, "ReceiverType", receiver.receiver_type)
    if business.replacements:
        replacements = _sub(el, "ReplacementInfoList")
        for replacement in business.replacements:
            ri = _sub(replacements, "ReplacementInfo")
            _text(ri, "DocumentId", replacement.document_id)
            ids = _sub(ri, "OrganIdList")
            for organ_id in replacement.organ_ids:
                _text(ids, "OrganId", str(organ_id))
    path = "edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness/StaffInfo"
    if business.staff_info is not None:
        _staff_info(el, business.staff_info)
    elif _needed(extra, path):
        _sub(el, "StaffInfo")


def _needed(extra: Iterable[ExtraElement], path: str) -> bool:
    return any(e.parent == path or e.parent.startswith(path + "/") for e in extra)
