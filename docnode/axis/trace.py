"""The axis's TraceHeader on UNSIGNED legacy edocs (DESIGN §7).

Rules:
1. Only an unsigned edoc accepted under ``legacy-allowed`` is ever changed: a signature covers
   the whole packet (``URI=""``), so a relay that touched a signed packet would break it. The
   caller decides; this function refuses a packet that carries a ds:Signature anyway.
2. One ``TraceHeader`` (the axis's OrganId, if it has one, and the time in UTC+7,
   ``yyyy/MM/dd HH:mm:ss``) is appended after the existing ones, before ``Bussiness``, as the
   VNPT convention expects (spec §2.3.3). Everything else is re-serialised unchanged.
3. The input is parsed with the one hardened parser (``envelopes.parser``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from lxml import etree

from docnode.errors import InternalError
from envelopes.limits import Limits
from envelopes.parser import parse

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
VN_TZ = timezone(timedelta(hours=7))


def _q(local: str) -> str:
    return f"{{{NS}}}{local}"


def append_trace_header(
    data: bytes, *, organ_id: str | None, at: datetime, limits: Limits, lenient: bool = False
) -> bytes:
    """The packet with one more TraceHeader (rules 1-3)."""
    root = parse(data, limits=limits, lenient=lenient).root
    if root.find(f".//{{{DSIG_NS}}}Signature") is not None:
        raise InternalError("refusing to alter a signed packet")
    header = root.find(f"{_q('edXMLEnvelope')}/{_q('edXMLHeader')}")
    if header is None:
        raise InternalError("edoc without edXMLHeader")
    trace = header.find(_q("TraceHeaderList"))
    if trace is None:
        trace = etree.SubElement(header, _q("TraceHeaderList"))
    hop = etree.Element(_q("TraceHeader"))
    if organ_id:
        etree.SubElement(hop, _q("OrganId")).text = organ_id
    etree.SubElement(hop, _q("Timestamp")).text = at.astimezone(VN_TZ).strftime(
        "%Y/%m/%d %H:%M:%S")
    business = trace.find(_q("Bussiness"))
    if business is not None:
        business.addprevious(hop)
    else:
        trace.append(hop)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
