"""The edXML (QCVN 102:2016) packet format: build, parse, validate, sign, verify.

Pure functions over bytes and typed models: no files, sockets, environment, clock or
asyncio. Anything raised for bad input is an :class:`envelopes.errors.EnvelopeError`.
"""

from envelopes.edxml import AttachmentEncoding, decode_packet, encode_edoc, encode_status
from envelopes.errors import EnvelopeError
from envelopes.limits import DEFAULT_LIMITS, Limits
from envelopes.model import Attachment, Edoc, Organization, StatusCode, StatusMessage
from envelopes.organ import OrganId
from envelopes.read import ReadPacket, read_packet

__all__ = [
    "DEFAULT_LIMITS",
    "Attachment",
    "AttachmentEncoding",
    "Edoc",
    "EnvelopeError",
    "Limits",
    "OrganId",
    "Organization",
    "ReadPacket",
    "StatusCode",
    "StatusMessage",
    "decode_packet",
    "encode_edoc",
    "encode_status",
    "read_packet",
]
