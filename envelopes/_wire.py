"""Wire-level facts shared by the edXML encoder, decoder and schema (spec/edxml.md §2.3–2.4).

Rules:

1. One namespace (§2.3.1) for everything; prefixed (``edXML:``) and unprefixed (default
   namespace) forms are the same names. Elements are matched by local name within it.
2. Element order tables below are the VNPT EdXML102 order (§2.3.2–2.4); the encoder writes it,
   the schema demands it, lenient reading restores it.
3. Dates are ``yyyy/MM/dd``; timestamps ``yyyy/MM/dd HH:mm:ss`` in UTC+7 (§2.3.6).
4. Paths name an element by local names from the root; the n-th (0-based, n > 0) element of
   the same name under one parent gets ``[n]`` (:func:`path_of`).
"""

from __future__ import annotations

import re
from datetime import date, datetime

from lxml import etree

from envelopes._checks import VN_TZ

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
"""The QCVN 102:2016 namespace (§2.3.1)."""
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
"""XML-DSig: the namespace of a standard ``ds:Signature`` (§2.3.5)."""
PREFIX = "edXML"
"""The prefix VNPT puts on envelope children (§2.3.1)."""

MESSAGE_HEADER_EDOC = (
    "From",
    "To",
    "DocumentId",
    "Code",
    "PromulgationInfo",
    "DocumentType",
    "Subject",
    "Content",
    "SignerInfo",
    "DueDate",
    "OtherInfo",
    "ResponseFor",
    "SteeringType",
    "ToPlaces",
)
MESSAGE_HEADER_STATUS = (
    "From",
    "ResponseFor",
    "StaffInfo",
    "StatusCode",
    "Description",
    "Timestamp",
)
ORGANIZATION = (
    "OrganId",
    "OrganizationInCharge",
    "OrganName",
    "OrganAdd",
    "Email",
    "Telephone",
    "Fax",
    "Website",
)
CODE = ("CodeNumber", "CodeNotation")
PROMULGATION_INFO = ("Place", "PromulgationDate")
DOCUMENT_TYPE = ("Type", "TypeDetail", "TypeName")
SIGNER_INFO = ("Competence", "Position", "FullName")
OTHER_INFO = (
    "Priority",
    "SphereOfPromulgation",
    "TyperNotation",
    "PromulgationAmount",
    "PageAmount",
    "Direction",
    "Appendixes",
)
RESPONSE_FOR = ("OrganId", "Code", "PromulgationDate", "DocumentId")
TRACE_HEADER_LIST = ("TraceHeader", "Bussiness")
TRACE_HEADER = ("OrganId", "Timestamp")
BUSINESS = (
    "DocumentId",
    "BussinessDocType",
    "BussinessDocReason",
    "Paper",
    "BussinessDocumentInfo",
    "ReplacementInfoList",
    "StaffInfo",
)
BUSINESS_DOCUMENT_INFO = ("DocumentInfo", "DocumentReceiver", "ReceiverList")
RECEIVER = ("OrganId", "ReceiverType")
REPLACEMENT_INFO = ("DocumentId", "OrganIdList")
STAFF_INFO = ("Department", "Staff", "Mobile", "Email")
REFERENCE = ("ContentId", "ContentType", "Description", "AttachmentName")
ATTACHMENT = ("ContentId", "AttachmentName", "Description", "ContentType", "ContentTransferEncoded")

REPEATED = frozenset(
    {
        "To",
        "ResponseFor",
        "TraceHeader",
        "Reference",
        "Attachment",
        "BussinessDocumentInfo",
        "Receiver",
        "ReplacementInfo",
        "Place",
        "Appendix",
        "OrganId",
    }
)
"""Names that may repeat under one parent."""

KNOWN_TAGS: dict[str, str] = {
    f"{{{NS}}}{name}": name
    for table in (
        MESSAGE_HEADER_EDOC,
        MESSAGE_HEADER_STATUS,
        ORGANIZATION,
        CODE,
        PROMULGATION_INFO,
        DOCUMENT_TYPE,
        SIGNER_INFO,
        OTHER_INFO,
        RESPONSE_FOR,
        TRACE_HEADER_LIST,
        TRACE_HEADER,
        BUSINESS,
        BUSINESS_DOCUMENT_INFO,
        RECEIVER,
        REPLACEMENT_INFO,
        STAFF_INFO,
        REFERENCE,
        ATTACHMENT,
        sorted(REPEATED),
        (
            "edXML",
            "edXMLEnvelope",
            "edXMLHeader",
            "edXMLBody",
            "edXMLManifest",
            "MessageHeader",
            "TraceHeaderList",
            "AttachmentEncoded",
            "Appendix",
        ),
    )
    for name in table
}
"""Clark tag → local name for every element we model: one dict lookup per child (rule 1)."""

_DATE = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2})")
_TIMESTAMP = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


def qname(local: str) -> str:
    return f"{{{NS}}}{local}"


def local_name(el: etree._Element, *, lenient: bool = False) -> str | None:
    """The local name of an element in our namespace (rule 1), else ``None``.

    With ``lenient``, a no-namespace ``edXML:Name`` tag (an undeclared prefix kept by a
    recovering parser, as in the VNPT ``edoc.edxml`` sample) also counts as ``Name``.
    """
    tag: object = el.tag  # comments and PIs have a function here, not a str
    if not isinstance(tag, str):
        return None
    known = KNOWN_TAGS.get(tag)  # one dict lookup for the names we model
    if known is not None:
        return known
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return local if ns == NS else None
    if lenient and tag.startswith(PREFIX + ":"):
        return tag[len(PREFIX) + 1 :]
    return None


def is_signature(el: etree._Element) -> bool:
    """``ds:Signature`` or the VNPT library's namespace-less-looking ``Signature`` (§2.3.5)."""
    return el.tag in (f"{{{DS_NS}}}Signature", f"{{{NS}}}Signature")


def line_of(el: etree._Element) -> int | None:
    """The source line of ``el`` (``None`` for built trees)."""
    line: object = el.sourceline
    return line if isinstance(line, int) else None


def _is_element(node: etree._Element) -> bool:
    tag: object = node.tag
    return isinstance(tag, str)


def path_of(el: etree._Element, *, lenient: bool = False) -> str:
    """Rule 4."""
    parts: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        name = local_name(node, lenient=lenient) or str(node.tag)
        parent = node.getparent()
        if parent is not None:
            same = sum(
                1
                for sibling in node.itersiblings(preceding=True)
                if _is_element(sibling)
                and (local_name(sibling, lenient=lenient) or str(sibling.tag)) == name
            )
            if same:
                name = f"{name}[{same}]"
        parts.append(name)
        node = parent
    return "/".join(reversed(parts))


def format_date(value: date) -> str:
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def format_timestamp(value: datetime) -> str:
    v = value.astimezone(VN_TZ)
    return f"{v.year:04d}/{v.month:02d}/{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"


def parse_date(text: str) -> date:
    """``yyyy/MM/dd``; raises ValueError (callers map it to InvalidField)."""
    m = _DATE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a yyyy/MM/dd date")
    return date(int(m[1]), int(m[2]), int(m[3]))


def parse_timestamp(text: str) -> datetime:
    """``yyyy/MM/dd HH:mm:ss`` read as UTC+7; raises ValueError."""
    m = _TIMESTAMP.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a yyyy/MM/dd HH:mm:ss timestamp")
    y, mo, d, h, mi, sec = (int(m[i]) for i in range(1, 7))
    return datetime(y, mo, d, h, mi, sec, tzinfo=VN_TZ)
