"""Typed values for every element of an edXML packet (spec/edxml.md §2.3–2.4).

Rules:

1. Values are valid by construction (h11's events): constructors check the QCVN 102 rules we
   can state and raise :class:`InvalidField` (or :class:`InvalidOrganId`) naming the element
   and the spec section. No other exception leaves a constructor for bad values.
2. Text must be representable in XML 1.0 (§2.3.6): control characters other than TAB, LF and
   CR are refused (CR survives because the serialiser writes it as ``&#13;``).
3. ``""`` means "absent": the VNPT library leaves empty fields out (§2.3.2) and empty elements
   ``<x/>`` read back as ``""``. Optional numbers and dates use ``None``.
4. Datetimes are timezone-aware. edXML text carries no zone (§2.3.6): it is read as UTC+7
   (:data:`VN_TZ`); values are stored converted to UTC+7 with whole seconds, the resolution
   of ``yyyy/MM/dd HH:mm:ss``.
5. Elements we do not model are kept as :class:`ExtraElement` fragments with their parent
   and position so that re-serialising a packet loses nothing (§2.3.2 "parse-and-ignore").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from envelopes._checks import VN_TZ, check_text, normalise_timestamp
from envelopes._checks import check_date as _check_date
from envelopes._checks import check_enum as _enum
from envelopes._checks import check_int as _check_int
from envelopes._checks import check_opt_int as _check_opt_int
from envelopes._checks import check_organ as _check_organ
from envelopes._checks import check_tuple as _check_tuple
from envelopes._checks import set_field as _set
from envelopes._codes import BusinessDocType, Priority, StatusCode, SteeringType
from envelopes._extra import ExtraAttribute, ExtraElement
from envelopes.errors import InvalidField
from envelopes.organ import OrganId

__all__ = [
    "VN_TZ",
    "Attachment",
    "Business",
    "BusinessDocType",
    "BusinessDocumentInfo",
    "Code",
    "DocumentType",
    "Edoc",
    "ExtraAttribute",
    "ExtraElement",
    "ManifestReference",
    "OrganId",
    "Organization",
    "OtherInfo",
    "Priority",
    "PromulgationInfo",
    "Receiver",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "StatusMessage",
    "SteeringType",
    "TraceHeader",
    "check_text",
    "make_document_id",
]


def _check_extra(value: object, attributes: object) -> None:
    _check_tuple("extra", value, ExtraElement)
    _check_tuple("extra_attributes", attributes, ExtraAttribute)


# --- header parts (§2.3.2) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Organization:
    """``From`` / ``To``: a body and its 8 children (spec §2.3.2)."""

    organ_id: OrganId
    organ_name: str = ""
    organization_in_charge: str = ""
    organ_add: str = ""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""

    def __post_init__(self) -> None:
        _check_organ("OrganId", self.organ_id)
        for name, element in _ORGANIZATION_TEXT:
            check_text(element, getattr(self, name))


_ORGANIZATION_TEXT = (
    ("organ_name", "OrganName"),
    ("organization_in_charge", "OrganizationInCharge"),
    ("organ_add", "OrganAdd"),
    ("email", "Email"),
    ("telephone", "Telephone"),
    ("fax", "Fax"),
    ("website", "Website"),
)


@dataclass(frozen=True, slots=True)
class Code:
    """``Code``: document number and notation (spec §2.3.2); ``str()`` is ``number/notation``."""

    code_number: str
    code_notation: str

    def __post_init__(self) -> None:
        check_text("CodeNumber", self.code_number)
        check_text("CodeNotation", self.code_notation)

    def __str__(self) -> str:
        return f"{self.code_number}/{self.code_notation}"


@dataclass(frozen=True, slots=True)
class PromulgationInfo:
    """``PromulgationInfo``: place and date of issue (spec §2.3.2)."""

    place: str
    promulgation_date: date

    def __post_init__(self) -> None:
        check_text("Place", self.place)
        _check_date("PromulgationDate", self.promulgation_date)


@dataclass(frozen=True, slots=True)
class DocumentType:
    """``DocumentType`` (spec §2.3.2, code lists §2.3.7)."""

    type: int
    type_detail: int = 0
    type_name: str = ""

    def __post_init__(self) -> None:
        _check_int("Type", self.type)
        _check_int("TypeDetail", self.type_detail)
        check_text("TypeName", self.type_name)


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """``SignerInfo`` (spec §2.3.2)."""

    competence: str = ""
    position: str = ""
    full_name: str = ""

    def __post_init__(self) -> None:
        check_text("Competence", self.competence)
        check_text("Position", self.position)
        check_text("FullName", self.full_name)


@dataclass(frozen=True, slots=True)
class OtherInfo:
    """``OtherInfo`` incl. ``Appendixes/Appendix*`` (spec §2.3.2)."""

    priority: int | None = Priority.NORMAL
    sphere_of_promulgation: str = ""
    typer_notation: str = ""
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: bool | None = None
    """VNPT library field (``false`` in samples; meaning unknown, §2.3.2)."""
    appendixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.priority is not None:
            _set(self, "priority", _enum("Priority", Priority, self.priority))
        check_text("SphereOfPromulgation", self.sphere_of_promulgation)
        check_text("TyperNotation", self.typer_notation)
        _check_opt_int("PromulgationAmount", self.promulgation_amount)
        _check_opt_int("PageAmount", self.page_amount)
        if self.direction is not None and not isinstance(self.direction, bool):
            raise InvalidField("must be a boolean", element="Direction")
        _check_tuple("Appendixes", self.appendixes, str)
        for appendix in self.appendixes:
            check_text("Appendix", appendix)


@dataclass(frozen=True, slots=True)
class ResponseFor:
    """``ResponseFor``: the document this one answers or refers to (spec §2.3.2, §2.4)."""

    organ_id: OrganId | None = None
    code: str = ""
    promulgation_date: date | None = None
    document_id: str = ""

    def __post_init__(self) -> None:
        _check_organ("OrganId", self.organ_id, optional=True)
        check_text("Code", self.code)
        _check_date("PromulgationDate", self.promulgation_date, optional=True)
        check_text("DocumentId", self.document_id)


# --- trace and business (§2.3.3) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """``TraceHeader``: one hop; the axis may append entries without OrganId (§2.3.3)."""

    organ_id: OrganId | None
    timestamp: datetime

    def __post_init__(self) -> None:
        _check_organ("OrganId", self.organ_id, optional=True)
        _set(self, "timestamp", normalise_timestamp("Timestamp", self.timestamp))


@dataclass(frozen=True, slots=True)
class StaffInfo:
    """``StaffInfo``: the clerk handling the packet (spec §2.3.3, §2.4)."""

    department: str = ""
    staff: str = ""
    mobile: str = ""
    email: str = ""

    def __post_init__(self) -> None:
        check_text("Department", self.department)
        check_text("Staff", self.staff)
        check_text("Mobile", self.mobile)
        check_text("Email", self.email)


@dataclass(frozen=True, slots=True)
class Receiver:
    """``ReceiverList/Receiver`` of an update (spec §2.3.3)."""

    organ_id: OrganId
    receiver_type: int | None = None

    def __post_init__(self) -> None:
        _check_organ("OrganId", self.organ_id)
        _check_opt_int("ReceiverType", self.receiver_type)


@dataclass(frozen=True, slots=True)
class BusinessDocumentInfo:
    """``BussinessDocumentInfo`` (update only, spec §2.3.3); flags are 0/1 in samples."""

    document_info: int | None = None
    document_receiver: int | None = None
    receivers: tuple[Receiver, ...] = ()

    def __post_init__(self) -> None:
        _check_opt_int("DocumentInfo", self.document_info)
        _check_opt_int("DocumentReceiver", self.document_receiver)
        _check_tuple("ReceiverList", self.receivers, Receiver)


@dataclass(frozen=True, slots=True)
class ReplacementInfo:
    """``ReplacementInfoList/ReplacementInfo`` (replacement only, spec §2.3.3)."""

    document_id: str
    organ_ids: tuple[OrganId, ...] = ()

    def __post_init__(self) -> None:
        check_text("DocumentId", self.document_id)
        _check_tuple("OrganIdList", self.organ_ids, OrganId)


@dataclass(frozen=True, slots=True)
class Business:
    """``Bussiness`` (double s on the wire, spec §2.3.3)."""

    doc_type: int = BusinessDocType.NEW
    reason: str = ""
    document_id: str = ""
    paper: int | None = None
    document_infos: tuple[BusinessDocumentInfo, ...] = ()
    replacements: tuple[ReplacementInfo, ...] = ()
    staff_info: StaffInfo | None = None

    def __post_init__(self) -> None:
        _set(self, "doc_type", _enum("BussinessDocType", BusinessDocType, self.doc_type))
        check_text("BussinessDocReason", self.reason)
        check_text("DocumentId", self.document_id)
        _check_opt_int("Paper", self.paper)
        _check_tuple("BussinessDocumentInfo", self.document_infos, BusinessDocumentInfo)
        _check_tuple("ReplacementInfoList", self.replacements, ReplacementInfo)
        if self.staff_info is not None and not isinstance(self.staff_info, StaffInfo):
            raise InvalidField("must be a StaffInfo", element="StaffInfo")


# --- attachments (§2.3.4) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManifestReference:
    """``edXMLManifest/Reference``: the manifest's view of one attachment (spec §2.3.4)."""

    content_id: str
    content_type: str = ""
    description: str = ""
    attachment_name: str = ""

    def __post_init__(self) -> None:
        check_text("ContentId", self.content_id, required=True)
        check_text("ContentType", self.content_type)
        check_text("Description", self.description)
        check_text("AttachmentName", self.attachment_name)


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file: the user-facing name and bytes (unzipped), spec §2.3.4.

    ``content_type`` is the type of ``data``; ``content_id`` is the ``cid:`` link between the
    manifest Reference and the Attachment (``None``: the encoder derives one from the content).
    """

    name: str
    data: bytes = field(repr=False)
    content_type: str = "application/octet-stream"
    description: str = ""
    content_id: str | None = None

    def __post_init__(self) -> None:
        check_text("AttachmentName", self.name, required=True)
        if not isinstance(self.data, bytes):
            raise InvalidField("data must be bytes", element="Attachment")
        check_text("ContentType", self.content_type, required=True)
        check_text("Description", self.description)
        if self.content_id is not None:
            check_text("ContentId", self.content_id, required=True)
            if self.content_id.split() != [self.content_id]:  # any whitespace in it
                raise InvalidField("must not contain whitespace (spec §2.3.4)", element="ContentId")


# --- packets ---------------------------------------------------------------------------------


def make_document_id(organ_id: OrganId, promulgation_date: date, code: Code | str) -> str:
    """The composite DocumentId of the VNPT samples (spec §2.3.2):
    ``<issuer OrganId>,<yyyy/MM/dd>,<number>/<notation>``."""
    _check_organ("OrganId", organ_id)
    _check_date("PromulgationDate", promulgation_date)
    d = promulgation_date
    return f"{organ_id},{d.year:04d}/{d.month:02d}/{d.day:02d},{code}"


@dataclass(frozen=True, slots=True)
class Edoc:
    """A document packet (spec §2.3): MessageHeader, TraceHeaderList, attachments."""

    from_: Organization
    to: tuple[Organization, ...]
    document_id: str
    code: Code
    promulgation_info: PromulgationInfo
    document_type: DocumentType
    subject: str
    content: str = ""
    signer_info: SignerInfo = SignerInfo()
    due_date: date | None = None
    other_info: OtherInfo = OtherInfo()
    response_for: tuple[ResponseFor, ...] = ()
    steering_type: int = SteeringType.NONE
    to_places: tuple[str, ...] = ()
    trace_headers: tuple[TraceHeader, ...] = ()
    business: Business = Business()
    attachments: tuple[Attachment, ...] = ()
    extra: tuple[ExtraElement, ...] = ()
    """Elements we do not model, kept for re-serialisation (rule 5)."""
    extra_attributes: tuple[ExtraAttribute, ...] = ()
    """Attributes we do not model, kept for re-serialisation (rule 5)."""

    def __post_init__(self) -> None:
        if not isinstance(self.from_, Organization):
            raise InvalidField("must be an Organization", element="From")
        _check_tuple("To", self.to, Organization)
        if not self.to:
            raise InvalidField("at least one recipient is required (spec §2.3.2)", element="To")
        check_text("DocumentId", self.document_id, required=True)
        for name, kind, element in (
            ("code", Code, "Code"),
            ("promulgation_info", PromulgationInfo, "PromulgationInfo"),
            ("document_type", DocumentType, "DocumentType"),
            ("signer_info", SignerInfo, "SignerInfo"),
            ("other_info", OtherInfo, "OtherInfo"),
            ("business", Business, "Bussiness"),
        ):
            if not isinstance(getattr(self, name), kind):
                raise InvalidField(f"must be a {kind.__name__}", element=element)
        check_text("Subject", self.subject, required=True)
        check_text("Content", self.content)
        _check_date("DueDate", self.due_date, optional=True)
        _check_tuple("ResponseFor", self.response_for, ResponseFor)
        _set(self, "steering_type", _enum("SteeringType", SteeringType, self.steering_type))
        _check_tuple("ToPlaces", self.to_places, str)
        for place in self.to_places:
            check_text("Place", place)
        _check_tuple("TraceHeaderList", self.trace_headers, TraceHeader)
        _check_tuple("AttachmentEncoded", self.attachments, Attachment)
        ids = [a.content_id for a in self.attachments if a.content_id is not None]
        if len(ids) != len(set(ids)):
            raise InvalidField(
                "ContentIds must be unique within a packet (spec §2.3.4)", element="ContentId"
            )
        _check_extra(self.extra, self.extra_attributes)


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """A status packet (spec §2.4)."""

    from_: Organization
    response_for: ResponseFor
    staff_info: StaffInfo
    status_code: StatusCode
    description: str
    timestamp: datetime
    extra: tuple[ExtraElement, ...] = ()
    """Elements we do not model, kept for re-serialisation (rule 5)."""
    extra_attributes: tuple[ExtraAttribute, ...] = ()
    """Attributes we do not model, kept for re-serialisation (rule 5)."""

    def __post_init__(self) -> None:
        if not isinstance(self.from_, Organization):
            raise InvalidField("must be an Organization", element="From")
        if not isinstance(self.response_for, ResponseFor):
            raise InvalidField("must be a ResponseFor", element="ResponseFor")
        if not isinstance(self.staff_info, StaffInfo):
            raise InvalidField("must be a StaffInfo", element="StaffInfo")
        try:
            _set(self, "status_code", StatusCode(self.status_code))
        except ValueError as exc:
            allowed = ", ".join(c.value for c in StatusCode)
            raise InvalidField(
                f"must be one of {allowed} (spec §2.4), got {self.status_code!r}",
                element="StatusCode",
            ) from exc
        check_text("Description", self.description)
        _set(self, "timestamp", normalise_timestamp("Timestamp", self.timestamp))
        _check_extra(self.extra, self.extra_attributes)
