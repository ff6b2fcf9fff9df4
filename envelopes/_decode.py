"""edXML tree → Edoc / StatusMessage (spec/edxml.md §2.3–2.4); see :mod:`envelopes.edxml`.

Field-level rules (matching by local name, Signature skipped, unknown elements kept, strict
vs lenient values) live in :mod:`envelopes._reader`. Here: the packet structure. Structural
problems (no envelope, a required element missing, manifest mismatch, limits) raise in both
modes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from envelopes import _wire as w
from envelopes._attachments import ZIP_CONTENT_TYPE, decode_payload, guess_content_type
from envelopes._reader import FieldReader, Groups
from envelopes.errors import (
    AttachmentTooLarge,
    EnvelopeError,
    InvalidField,
    ManifestMismatch,
    NotEdxml,
    TooManyAttachments,
)
from envelopes.limits import DEFAULT_LIMITS, Limits
from envelopes.model import (
    Attachment,
    Business,
    BusinessDocumentInfo,
    Code,
    DocumentType,
    Edoc,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusMessage,
    TraceHeader,
)


class PacketKind(StrEnum):
    EDOC = "edoc"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded packet and what lenient mode tolerated to get it."""

    packet: Edoc | StatusMessage
    warnings: tuple[str, ...] = ()


_HEADER_PATH = ("edXMLEnvelope", "edXMLHeader", "MessageHeader")


def packet_kind(root: etree._Element) -> PacketKind:
    """``status`` when MessageHeader has a StatusCode, else ``edoc``; NotEdxml otherwise."""
    mh = _message_header(root, lenient=True)
    for child in mh:
        tag: object = child.tag
        if tag in _STATUS_CODE_TAGS:  # (w.local_name with lenient, without the calls)
            return PacketKind.STATUS
    return PacketKind.EDOC


_STATUS_CODE_TAGS = frozenset({w.qname("StatusCode"), f"{w.PREFIX}:StatusCode"})


def _message_header(root: etree._Element, *, lenient: bool) -> etree._Element:
    if w.local_name(root) != "edXML":
        raise NotEdxml(
            f"root element is {root.tag!r}, expected {{{w.NS}}}edXML", line=w.line_of(root)
        )
    node = root
    for name in _HEADER_PATH:
        # The first child of that local name; w.local_name only for what the table misses.
        found = None
        for child in node:
            known = w.KNOWN_TAGS.get(child.tag)
            if known == name or (known is None and w.local_name(child, lenient=lenient) == name):
                found = child
                break
        if found is None:
            raise NotEdxml(f"no {name} element", element=w.path_of(node), line=w.line_of(node))
        node = found
    return node


def decode(
    root: etree._Element, *, limits: Limits = DEFAULT_LIMITS, lenient: bool = False
) -> Decoded:
    """Decode either packet kind, with lenient-mode warnings."""
    reader = _Reader(lenient)
    packet: Edoc | StatusMessage
    if packet_kind(root) is PacketKind.STATUS:
        packet = reader.status(root)
    else:
        packet = reader.edoc(root, limits)
    return Decoded(packet, tuple(reader.warnings))


def decode_edoc(
    root: etree._Element, *, limits: Limits = DEFAULT_LIMITS, lenient: bool = False
) -> Edoc:
    """Decode an edoc packet (use :func:`decode` to see lenient-mode warnings)."""
    if packet_kind(root) is not PacketKind.EDOC:
        raise NotEdxml("this is a status packet, not an edoc", element="StatusCode")
    return _Reader(lenient).edoc(root, limits)


def decode_status(root: etree._Element, *, lenient: bool = False) -> StatusMessage:
    """Decode a status packet (use :func:`decode` to see lenient-mode warnings)."""
    if packet_kind(root) is not PacketKind.STATUS:
        raise NotEdxml("this is an edoc packet, not a status packet", element="MessageHeader")
    return _Reader(lenient).status(root)


def decode_packet(
    root: etree._Element, *, limits: Limits = DEFAULT_LIMITS, lenient: bool = False
) -> Edoc | StatusMessage:
    """Decode either packet kind (use :func:`decode` to see lenient-mode warnings)."""
    return decode(root, limits=limits, lenient=lenient).packet


class _Reader(FieldReader):
    """Builds the packet models from the tree."""

    # --- parts ------------------------------------------------------------------------------

    def organization(self, el: etree._Element) -> Organization:
        g = self.group(el, w.ORGANIZATION)
        organ_id = self.organ(g)
        if organ_id is None:
            raise InvalidField(
                "OrganId is required (spec §2.3.2)", element=w.local_name(el), line=w.line_of(el)
            )
        return Organization(
            organ_id=organ_id,
            organ_name=self.field(g, "OrganName"),
            organization_in_charge=self.field(g, "OrganizationInCharge"),
            organ_add=self.field(g, "OrganAdd"),
            email=self.field(g, "Email"),
            telephone=self.field(g, "Telephone"),
            fax=self.field(g, "Fax"),
            website=self.field(g, "Website"),
        )

    def response_for(self, el: etree._Element) -> ResponseFor:
        g = self.group(el, w.RESPONSE_FOR)
        return ResponseFor(
            organ_id=self.organ(g),
            code=self.field(g, "Code"),
            promulgation_date=self.date_field(g, "PromulgationDate"),
            document_id=self.field(g, "DocumentId"),
        )

    def staff_info(self, el: etree._Element | None) -> StaffInfo:
        if el is None:
            return StaffInfo()
        g = self.group(el, w.STAFF_INFO)
        return StaffInfo(
            department=self.field(g, "Department"),
            staff=self.field(g, "Staff"),
            mobile=self.field(g, "Mobile"),
            email=self.field(g, "Email"),
        )

    def list_of(self, el: etree._Element | None, item: str) -> list[etree._Element]:
        return [] if el is None else self.group(el, (item,)).get(item, [])

    def other_info(self, el: etree._Element | None) -> OtherInfo:
        if el is None:
            return OtherInfo()
        g = self.group(el, w.OTHER_INFO)
        direction: bool | None = None
        d_el = self.one(g, "Direction")
        d_text = self.text(d_el).strip().lower()
        if d_text in ("true", "1"):
            direction = True
        elif d_text in ("false", "0"):
            direction = False
        elif d_text:
            self._bad(d_el, "Direction", ValueError(f"{d_text!r} is not a boolean"))
        appendixes = self.list_of(self.one(g, "Appendixes"), "Appendix")
        return OtherInfo(
            priority=self.int_field(g, "Priority"),
            sphere_of_promulgation=self.field(g, "SphereOfPromulgation"),
            typer_notation=self.field(g, "TyperNotation"),
            promulgation_amount=self.int_field(g, "PromulgationAmount"),
            page_amount=self.int_field(g, "PageAmount"),
            direction=direction,
            appendixes=tuple(self.text(a) for a in appendixes),
        )

    def business(self, el: etree._Element | None) -> Business:
        if el is None:
            return Business()
        g = self.group(el, w.BUSINESS)
        infos = []
        for info in g.get("BussinessDocumentInfo", []):
            ig = self.group(info, w.BUSINESS_DOCUMENT_INFO)
            receivers = []
            for r in self.list_of(self.one(ig, "ReceiverList"), "Receiver"):
                rg = self.group(r, w.RECEIVER)
                organ_id = self.organ(rg)
                if organ_id is None:
                    raise InvalidField(
                        "Receiver needs an OrganId", element="Receiver", line=w.line_of(r)
                    )
                receivers.append(Receiver(organ_id, self.int_field(rg, "ReceiverType")))
            infos.append(
                BusinessDocumentInfo(
                    document_info=self.int_field(ig, "DocumentInfo"),
                    document_receiver=self.int_field(ig, "DocumentReceiver"),
                    receivers=tuple(receivers),
                )
            )
        replacements = []
        for lst in g.get("ReplacementInfoList", []):
            for ri in self.list_of(lst, "ReplacementInfo"):
                rg = self.group(ri, w.REPLACEMENT_INFO)
                ids = self.list_of(self.one(rg, "OrganIdList"), "OrganId")
                organ_ids = tuple(o for o in (self._organ_of(e) for e in ids) if o is not None)
                replacements.append(ReplacementInfo(self.field(rg, "DocumentId"), organ_ids))
        staff = self.one(g, "StaffInfo")
        doc_type = self.int_field(g, "BussinessDocType")
        return Business(
            doc_type=0 if doc_type is None else doc_type,
            reason=self.field(g, "BussinessDocReason"),
            document_id=self.field(g, "DocumentId"),
            paper=self.int_field(g, "Paper"),
            document_infos=tuple(infos),
            replacements=tuple(replacements),
            staff_info=None if staff is None else self.staff_info(staff),
        )

    # --- packets ----------------------------------------------------------------------------

    def envelope(
        self, root: etree._Element, root_known: tuple[str, ...], env_known: tuple[str, ...]
    ) -> tuple[Groups, Groups, Groups]:
        if root.attrib:
            self.keep_attributes(root)
        rg = self.group(root, root_known)
        envelope = self.need(rg, "edXMLEnvelope", root)
        eg = self.group(envelope, env_known)
        header = self.need(eg, "edXMLHeader", envelope)
        hg = self.group(header, ("MessageHeader", "TraceHeaderList"), sig=True)
        return rg, eg, hg

    def edoc(self, root: etree._Element, limits: Limits) -> Edoc:
        rg, eg, hg = self.envelope(
            root, ("edXMLEnvelope", "AttachmentEncoded"), ("edXMLHeader", "edXMLBody")
        )
        mh = self.need(hg, "MessageHeader", root)
        g = self.group(mh, w.MESSAGE_HEADER_EDOC)
        code = self.group(self.need(g, "Code", mh), w.CODE)
        info_el = self.need(g, "PromulgationInfo", mh)
        info = self.group(info_el, w.PROMULGATION_INFO)
        promulgated = self.date_field(info, "PromulgationDate")
        if promulgated is None:
            raise InvalidField(
                "is required (spec §2.3.2)", element="PromulgationDate", line=w.line_of(info_el)
            )
        dt = self.group(self.need(g, "DocumentType", mh), w.DOCUMENT_TYPE)
        signer = self.one(g, "SignerInfo")
        sg = self.group(signer, w.SIGNER_INFO) if signer is not None else {}
        trace = self.one(hg, "TraceHeaderList")
        tg = self.group(trace, w.TRACE_HEADER_LIST) if trace is not None else {}
        hops = []
        for th in tg.get("TraceHeader", []):
            thg = self.group(th, w.TRACE_HEADER)
            hops.append(TraceHeader(self.organ(thg), self.timestamp_field(thg, "Timestamp", th)))
        places = self.list_of(self.one(g, "ToPlaces"), "Place")
        edoc_type = self.int_field(dt, "Type")
        steering = self.int_field(g, "SteeringType")
        attachments = self.attachments(rg, eg, limits)
        return Edoc(
            from_=self.organization(self.need(g, "From", mh)),
            to=tuple(self.organization(t) for t in g.get("To", [])),
            document_id=self.field(g, "DocumentId"),
            code=Code(self.field(code, "CodeNumber"), self.field(code, "CodeNotation")),
            promulgation_info=PromulgationInfo(self.field(info, "Place"), promulgated),
            document_type=DocumentType(
                type=0 if edoc_type is None else edoc_type,
                type_detail=self.int_field(dt, "TypeDetail") or 0,
                type_name=self.field(dt, "TypeName"),
            ),
            subject=self.field(g, "Subject"),
            content=self.field(g, "Content"),
            signer_info=SignerInfo(
                competence=self.field(sg, "Competence"),
                position=self.field(sg, "Position"),
                full_name=self.field(sg, "FullName"),
            ),
            due_date=self.date_field(g, "DueDate"),
            other_info=self.other_info(self.one(g, "OtherInfo")),
            response_for=tuple(self.response_for(r) for r in g.get("ResponseFor", [])),
            steering_type=0 if steering is None else steering,
            to_places=tuple(self.text(p) for p in places),
            trace_headers=tuple(hops),
            business=self.business(self.one(tg, "Bussiness")),
            attachments=attachments,
            extra=tuple(self.extra),
            extra_attributes=tuple(self.extra_attributes),
        )

    def status(self, root: etree._Element) -> StatusMessage:
        _, _, hg = self.envelope(root, ("edXMLEnvelope",), ("edXMLHeader",))
        mh = self.need(hg, "MessageHeader", root)
        g = self.group(mh, w.MESSAGE_HEADER_STATUS)
        code_el = self.need(g, "StatusCode", mh)
        return StatusMessage(
            from_=self.organization(self.need(g, "From", mh)),
            response_for=self.response_for(self.need(g, "ResponseFor", mh)),
            staff_info=self.staff_info(self.one(g, "StaffInfo")),
            status_code=self.text(code_el).strip(),  # type: ignore[arg-type]  # model checks
            description=self.field(g, "Description"),
            timestamp=self.timestamp_field(g, "Timestamp", mh),
            extra=tuple(self.extra),
            extra_attributes=tuple(self.extra_attributes),
        )

    # --- attachments (§2.3.4) -----------------------------------------------------------------

    def attachments(self, rg: Groups, eg: Groups, limits: Limits) -> tuple[Attachment, ...]:
        body = self.one(eg, "edXMLBody")
        manifest = (
            self.one(self.group(body, ("edXMLManifest",)), "edXMLManifest")
            if body is not None
            else None
        )
        refs = self.list_of(manifest, "Reference")
        atts = self.list_of(self.one(rg, "AttachmentEncoded"), "Attachment")
        for kind, found in (("manifest references", refs), ("attachments", atts)):
            if len(found) > limits.max_attachments:
                raise TooManyAttachments(
                    f"{len(found)} {kind}, the limit is {limits.max_attachments}"
                )
        ref_by_cid: dict[str, Groups] = {}
        for ref in refs:
            rg_ = self.group(ref, w.REFERENCE)
            cid = self._cid(rg_, ref, ref_by_cid)
            ref_by_cid[cid] = rg_
        att_by_cid: dict[str, Groups] = {}
        for att in atts:
            ag = self.group(att, w.ATTACHMENT)
            cid = self._cid(ag, att, att_by_cid)
            att_by_cid[cid] = ag
        if ref_by_cid.keys() != att_by_cid.keys():
            missing = sorted(att_by_cid.keys() - ref_by_cid.keys())
            unused = sorted(ref_by_cid.keys() - att_by_cid.keys())
            raise ManifestMismatch(
                f"attachments without a manifest reference: {missing}; "
                f"references without an attachment: {unused}"
            )
        out, total = [], 0
        for cid, ag in att_by_cid.items():
            rgp = ref_by_cid[cid]
            name = self._agree(ag, rgp, "AttachmentName", cid) or self._nameless(cid)
            description = self._agree(ag, rgp, "Description", cid)
            wire_type = self._agree(ag, rgp, "ContentType", cid)
            payload = self.one(ag, "ContentTransferEncoded")
            line = w.line_of(payload) if payload is not None else None
            data, zipped, warnings = decode_payload(
                self.text(payload), name=name, limits=limits, lenient=self.lenient, line=line
            )
            self.warnings.extend(warnings)
            total += len(data)
            if total > limits.max_total_attachment_bytes:
                raise AttachmentTooLarge(
                    f"attachments decode to more than {limits.max_total_attachment_bytes} bytes",
                    element="AttachmentEncoded",
                )
            if (zipped and wire_type in ("", ZIP_CONTENT_TYPE)) or not wire_type:
                content_type = guess_content_type(name)
            else:
                content_type = wire_type
            out.append(Attachment(name, data, content_type, description, cid))
        return tuple(out)

    def _cid(self, g: Groups, el: etree._Element, seen: dict[str, Groups]) -> str:
        cid = self.field(g, "ContentId").strip()
        if not cid:
            raise ManifestMismatch(
                "an element has no ContentId", element=w.local_name(el), line=w.line_of(el)
            )
        if cid in seen:
            raise ManifestMismatch(
                f"ContentId {cid!r} is used twice", element=w.local_name(el), line=w.line_of(el)
            )
        return cid

    def _agree(self, att: Groups, ref: Groups, name: str, cid: str) -> str:
        a, r = self.field(att, name), self.field(ref, name)
        if a and r and a != r:
            if not self.lenient:
                raise ManifestMismatch(
                    f"{name} of {cid} differs: Attachment {a!r}, Reference {r!r}", element=name
                )
            self.warnings.append(
                f"{name} of {cid} differs (Attachment {a!r}, Reference {r!r}); Attachment's used"
            )
        return a or r

    def _nameless(self, cid: str) -> str:
        if not self.lenient:
            raise InvalidField(f"attachment {cid} has no AttachmentName", element="AttachmentName")
        self.warnings.append(f"attachment {cid} has no AttachmentName; its ContentId is used")
        return cid


__all__ = [
    "Decoded",
    "EnvelopeError",
    "PacketKind",
    "decode",
    "decode_edoc",
    "decode_packet",
    "decode_status",
    "packet_kind",
]
