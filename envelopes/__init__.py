"""The edXML (QCVN 102:2016) packet format: build, parse, validate, sign, verify.

Pure functions over bytes and typed models: no files, sockets, environment, clock or
asyncio. Anything raised for bad input is an :class:`envelopes.errors.EnvelopeError`.
"""

from envelopes.errors import EnvelopeError
from envelopes.limits import DEFAULT_LIMITS, Limits

__all__ = ["DEFAULT_LIMITS", "EnvelopeError", "Limits"]
