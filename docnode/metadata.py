"""Document metadata as clerks and tools write it (JSON or TOML) -> a typed ``Edoc``.

One converter shared by ``docnode pack``, ``docnode send`` and the clerk API, so that the
three accept exactly the same fields. Rules:

1. Keys are the edXML header fields in snake_case (``subject``, ``code``, ``to`` …); unknown
   keys are refused, so a typo never silently drops a field.
2. Every bad field is reported, not only the first: :class:`ValidationFailed` carries
   ``detail["errors"]`` = ``[{"field": "to[1].organ_id", "message": "…"}, …]``.
3. What the sender does not give is derived the way the VNPT samples do it: the DocumentId
   from (From OrganId, promulgation date, number/notation); the sender's TraceHeader stamped
   ``now``; the promulgation date ``now``'s date in UTC+7.

Accepted shape (all but ``from``, ``to``, ``code`` and ``subject`` optional)::

    from = {organ_id = "000.00.00.G22", organ_name = "…", …8 organisation fields}
    to = ["000.00.00.H41", {organ_id = "000.00.00.H14", organ_name = "…"}]
    code = {number = "7816", notation = "VPCP-TTĐT"}    # or "7816/VPCP-TTĐT"
    subject = "…"   content = "…"   document_id = "…"
    promulgation = {place = "Hà Nội", date = "2026-12-01"}
    document_type = {type = 1, type_detail = 0, type_name = "Công văn"}
    signer_info = {competence = "…", position = "…", full_name = "…"}
    due_date = "2026-12-31"   priority = 0   steering_type = 0   to_places = ["…"]
    other_info = {sphere_of_promulgation = "…", typer_notation = "…", promulgation_amount = 1,
                  page_amount = 1, appendixes = ["…"]}
    response_for = [{organ_id = "…", code = "…", promulgation_date = "…", document_id = "…"}]
    staff_info = {department = "…", staff = "…", mobile = "…", email = "…"}
    business = {doc_type = 0, reason = "…", document_id = "…"}
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from docnode.errors import ValidationFailed
from envelopes.errors import EnvelopeError
from envelopes.model import (
    VN_TZ,
    Attachment,
    Business,
    Code,
    DocumentType,
    Edoc,
    Organization,
    OtherInfo,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusMessage,
    TraceHeader,
    make_document_id,
)
from envelopes.organ import OrganId

T = TypeVar("T")

TOP_LEVEL_KEYS = frozenset(
    {
        "from", "to", "code", "subject", "content", "document_id", "promulgation",
        "document_type", "signer_info", "due_date", "priority", "steering_type",
        "to_places", "other_info", "response_for", "staff_info", "business",
    }
)
ORGANIZATION_KEYS = frozenset(
    {
        "organ_id", "organ_name", "organization_in_charge", "organ_add", "email",
        "telephone", "fax", "website",
    }
)
DEFAULT_DOCUMENT_TYPE = DocumentType(type=1, type_detail=0, type_name="Công văn")


@dataclass(frozen=True, slots=True)
class FileInput:
    """One file to attach: original name, bytes, declared media type."""

    name: str
    data: bytes
    content_type: str = "application/octet-stream"


class _Problems:
    """Collects (field, message) pairs while converting (rule 2)."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, where: str, message: str) -> None:
        self.items.append({"field": where, "message": message})

    def attempt(self, where: str, build: Callable[[], T]) -> T | None:
        try:
            return build()
        except EnvelopeError as exc:
            self.add(where, exc.message)
        except (TypeError, ValueError) as exc:
            self.add(where, str(exc))
        return None


def _mapping(p: _Problems, where: str, value: object, keys: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        p.add(where, "expected an object")
        return {}
    for key in value:
        if key not in keys:
            p.add(f"{where}.{key}" if where else str(key), "unknown field")
    return {str(k): v for k, v in value.items() if k in keys}


def _text(p: _Problems, where: str, value: object, *, required: bool = False) -> str:
    if value is None:
        if required:
            p.add(where, "is required")
        return ""
    if not isinstance(value, str):
        p.add(where, "expected a string")
        return ""
    if required and not value.strip():
        p.add(where, "must not be empty")
    return value


def _int(p: _Problems, where: str, value: object, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        p.add(where, "expected an integer")
        return default
    return value


def _date(p: _Problems, where: str, value: object) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip().replace("/", "-")
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    p.add(where, "expected a date (YYYY-MM-DD or yyyy/MM/dd)")
    return None


def _organ(p: _Problems, where: str, value: object) -> OrganId | None:
    text = _text(p, where, value, required=True)
    if not text:
        return None
    return p.attempt(where, lambda: OrganId.parse(text))


def _organization(p: _Problems, where: str, value: object) -> Organization | None:
    if isinstance(value, str):
        value = {"organ_id": value}
    fields = _mapping(p, where, value, ORGANIZATION_KEYS)
    organ = _organ(p, f"{where}.organ_id", fields.get("organ_id"))
    texts = {
        k: _text(p, f"{where}.{k}", fields.get(k)) for k in ORGANIZATION_KEYS - {"organ_id"}
    }
    if organ is None:
        return None
    return p.attempt(where, lambda: Organization(organ_id=organ, **texts))


def _code(p: _Problems, value: object) -> Code | None:
    if isinstance(value, str):
        number, sep, notation = value.partition("/")
        if not sep:
            p.add("code", "expected 'number/notation' or {number, notation}")
            return None
        value = {"number": number, "notation": notation}
    fields = _mapping(p, "code", value, frozenset({"number", "notation"}))
    number = _text(p, "code.number", fields.get("number"), required=True)
    notation = _text(p, "code.notation", fields.get("notation"), required=True)
    if not (number and notation):
        return None
    return p.attempt("code", lambda: Code(code_number=number, code_notation=notation))


def _sub(
    p: _Problems, where: str, value: object, keys: Sequence[str], build: Callable[..., T]
) -> T | None:
    if value is None:
        return None
    fields = _mapping(p, where, value, frozenset(keys))
    return p.attempt(where, lambda: build(**fields))


def _response_for_list(p: _Problems, raw: object) -> list[ResponseFor]:
    items = raw or []
    if not isinstance(items, list):
        p.add("response_for", "expected a list")
        return []
    out: list[ResponseFor] = []
    for i, item in enumerate(items):
        where = f"response_for[{i}]"
        fields = _mapping(
            p, where, item, frozenset({"organ_id", "code", "promulgation_date", "document_id"})
        )
        organ = (
            _organ(p, f"{where}.organ_id", fields.get("organ_id"))
            if fields.get("organ_id")
            else None
        )
        rf = p.attempt(
            where,
            functools.partial(
                ResponseFor,
                organ_id=organ,
                code=_text(p, f"{where}.code", fields.get("code")),
                promulgation_date=_date(
                    p, f"{where}.promulgation_date", fields.get("promulgation_date")
                ),
                document_id=_text(
                    p, f"{where}.document_id", fields.get("document_id"), required=True
                ),
            ),
        )
        if rf is not None:
            out.append(rf)
    return out


def _attachments(p: _Problems, files: Sequence[FileInput]) -> list[Attachment]:
    out: list[Attachment] = []
    for i, f in enumerate(files):
        att = p.attempt(
            f"files[{i}]",
            functools.partial(
                Attachment,
                name=f.name,
                data=f.data,
                content_type=f.content_type or "application/octet-stream",
            ),
        )
        if att is not None:
            out.append(att)
    return out


def _other_info(p: _Problems, meta: Mapping[str, Any]) -> OtherInfo:
    fields = _mapping(p, "other_info", meta.get("other_info") or {}, frozenset({
        "sphere_of_promulgation", "typer_notation", "promulgation_amount", "page_amount",
        "appendixes", "direction"}))
    if isinstance(fields.get("appendixes"), list):
        fields["appendixes"] = tuple(fields["appendixes"])
    priority = _int(p, "priority", meta.get("priority"), 0)
    return p.attempt(
        "other_info", functools.partial(OtherInfo, priority=priority, **fields)
    ) or OtherInfo()


def _recipients(p: _Problems, raw_to: object) -> list[Organization]:
    to: list[Organization] = []
    if not isinstance(raw_to, list) or not raw_to:
        p.add("to", "expected a non-empty list of recipients")
        return to
    for i, item in enumerate(raw_to):
        org = _organization(p, f"to[{i}]", item)
        if org is not None:
            to.append(org)
    seen = [str(o.organ_id) for o in to]
    if len(seen) != len(set(seen)):
        p.add("to", "a recipient is listed twice")
    return to


def _fail(p: _Problems) -> ValidationFailed:
    return ValidationFailed(
        f"{len(p.items)} invalid field(s): "
        + "; ".join(f"{i['field'] or '(document)'}: {i['message']}" for i in p.items),
        detail={"errors": p.items},
    )


def edoc_from_metadata(
    meta: Mapping[str, Any],
    files: Sequence[FileInput],
    *,
    now: datetime,
    sender: Organization | None = None,
) -> Edoc:
    """Build the Edoc a clerk described; raise ValidationFailed listing every bad field.

    ``sender``, when given (the node's own organisation), is used if ``from`` is absent.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    p = _Problems()
    m = _mapping(p, "", meta, TOP_LEVEL_KEYS)

    from_ = sender if m.get("from") is None and sender is not None else _organization(
        p, "from", m.get("from")
    )
    to = _recipients(p, m.get("to"))
    code = _code(p, m.get("code"))
    subject = _text(p, "subject", m.get("subject"), required=True)
    content = _text(p, "content", m.get("content"))

    local_today = now.astimezone(VN_TZ).date()
    promulgation = _mapping(p, "promulgation", m.get("promulgation") or {}, frozenset(
        {"place", "date"}))
    place = _text(p, "promulgation.place", promulgation.get("place"))
    promulgation_date = _date(p, "promulgation.date", promulgation.get("date")) or local_today
    promulgation_info = p.attempt(
        "promulgation", lambda: PromulgationInfo(place=place, promulgation_date=promulgation_date)
    )
    document_type = (
        _sub(p, "document_type", m.get("document_type"), ("type", "type_detail", "type_name"),
             DocumentType)
        or DEFAULT_DOCUMENT_TYPE
    )
    signer_info = _sub(
        p, "signer_info", m.get("signer_info"), ("competence", "position", "full_name"),
        SignerInfo,
    ) or SignerInfo()
    due_date = _date(p, "due_date", m.get("due_date"))
    other_info = _other_info(p, m)
    steering_type = _int(p, "steering_type", m.get("steering_type"), 0) or 0
    to_places_raw = m.get("to_places") or []
    to_places: tuple[str, ...] = ()
    if isinstance(to_places_raw, list) and all(isinstance(x, str) for x in to_places_raw):
        to_places = tuple(to_places_raw)
    else:
        p.add("to_places", "expected a list of strings")
    response_for = _response_for_list(p, m.get("response_for"))
    staff_info = _sub(
        p, "staff_info", m.get("staff_info"), ("department", "staff", "mobile", "email"),
        StaffInfo,
    )
    business_fields = _mapping(p, "business", m.get("business") or {}, frozenset(
        {"doc_type", "reason", "document_id", "paper"}))
    business = p.attempt(
        "business", lambda: Business(staff_info=staff_info, **business_fields)
    ) or Business()

    attachments = _attachments(p, files)

    document_id = _text(p, "document_id", m.get("document_id"))
    if p.items or from_ is None or code is None or promulgation_info is None:
        if not p.items:
            p.add("", "incomplete metadata")
        raise _fail(p)
    if not document_id:
        document_id = make_document_id(from_.organ_id, promulgation_info.promulgation_date, code)
    trace = TraceHeader(organ_id=from_.organ_id, timestamp=now)
    edoc = p.attempt("", functools.partial(Edoc,
        from_=from_, to=tuple(to), document_id=document_id, code=code,
        promulgation_info=promulgation_info, document_type=document_type, subject=subject,
        content=content, signer_info=signer_info, due_date=due_date, other_info=other_info,
        response_for=tuple(response_for), steering_type=steering_type, to_places=to_places,
        trace_headers=(trace,), business=business, attachments=tuple(attachments),
    ))
    if edoc is None:
        raise _fail(p)
    return edoc


STATUS_KEYS = frozenset(
    {"from", "response_for", "status_code", "description", "staff_info", "timestamp"}
)


def status_from_metadata(
    meta: Mapping[str, Any], *, now: datetime, sender: Organization | None = None
) -> StatusMessage:
    """Build a StatusMessage (spec §2.4) from metadata; every bad field reported::

        from = {organ_id = "…"}           # or the node's own organisation
        response_for = {organ_id = "…", code = "7816/VPCP-TTĐT",
                        promulgation_date = "2026-12-01", document_id = "…"}
        status_code = "03"   description = "…"   timestamp = "2026-12-01T10:00:00+07:00"
        staff_info = {department = "…", staff = "…", mobile = "…", email = "…"}
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    p = _Problems()
    m = _mapping(p, "", meta, STATUS_KEYS)
    from_ = sender if m.get("from") is None and sender is not None else _organization(
        p, "from", m.get("from")
    )
    rf_list = _response_for_list(p, [m.get("response_for")] if m.get("response_for") else [])
    if not rf_list and "response_for" not in {i["field"].split("[")[0] for i in p.items}:
        p.add("response_for", "is required")
    raw_code = m.get("status_code")
    code_text = f"{raw_code:02d}" if isinstance(raw_code, int) else raw_code
    status_code = None
    if not isinstance(code_text, str) or code_text not in {c.value for c in StatusCode}:
        p.add("status_code", "expected one of " + ", ".join(c.value for c in StatusCode))
    else:
        status_code = StatusCode(code_text)
    description = _text(p, "description", m.get("description"))
    if status_code in (StatusCode.REFUSED, StatusCode.TAKE_BACK) and not description.strip():
        p.add("description", "a reason is required for status " + str(status_code))
    staff_info = _sub(
        p, "staff_info", m.get("staff_info"), ("department", "staff", "mobile", "email"),
        StaffInfo,
    ) or StaffInfo()
    timestamp = now
    raw_ts = m.get("timestamp")
    if isinstance(raw_ts, datetime):
        timestamp = raw_ts if raw_ts.tzinfo else raw_ts.replace(tzinfo=VN_TZ)
    elif isinstance(raw_ts, str):
        try:
            parsed = datetime.fromisoformat(raw_ts)
            timestamp = parsed if parsed.tzinfo else parsed.replace(tzinfo=VN_TZ)
        except ValueError:
            p.add("timestamp", "expected an ISO 8601 date-time")
    elif raw_ts is not None:
        p.add("timestamp", "expected an ISO 8601 date-time")
    if p.items or from_ is None or status_code is None or not rf_list:
        if not p.items:
            p.add("", "incomplete metadata")
        raise _fail(p)
    status = p.attempt("", functools.partial(
        StatusMessage, from_=from_, response_for=rf_list[0], staff_info=staff_info,
        status_code=status_code, description=description, timestamp=timestamp,
    ))
    if status is None:
        raise _fail(p)
    return status
