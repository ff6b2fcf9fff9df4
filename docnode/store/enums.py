"""Code lists of the store, as StrEnums with stable string values (STYLE §8). The values are
what the database holds; they are never renamed (a migration would have to rewrite rows).
"""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    """Whether this node sent (``out``) or received (``in``) a document."""

    OUT = "out"
    IN = "in"


class DocumentKind(StrEnum):
    EDOC = "edoc"
    STATUS = "status"


class Verification(StrEnum):
    """``unverified`` marks legacy traffic accepted under ``signature_policy =
    "legacy-allowed"`` (DESIGN §7); it is shown wherever the document is shown."""

    VERIFIED = "verified"
    UNVERIFIED = "unverified"


class DeliveryState(StrEnum):
    """State of one outgoing document towards one recipient.

    ``queued`` -> ``sending`` -> ``delivered`` | back to ``queued`` (retry) | ``failed``
    (permanent refusal, e.g. a 4xx) | ``expired`` (older than ``max_age_s``) |
    ``dead_lettered`` (``max_attempts`` used up). The last four are terminal.
    """

    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    DEAD_LETTERED = "dead_lettered"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({DeliveryState.DELIVERED, DeliveryState.FAILED,
                       DeliveryState.EXPIRED, DeliveryState.DEAD_LETTERED})

#: Allowed delivery transitions (a state may also be "set" to itself to update its fields).
DELIVERY_TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.QUEUED: frozenset({DeliveryState.SENDING, *_TERMINAL}),
    DeliveryState.SENDING: frozenset({DeliveryState.QUEUED, *_TERMINAL}),
    DeliveryState.DELIVERED: frozenset(),
    # An operator may resend a failed/expired/dead-lettered delivery (same stored bytes).
    DeliveryState.FAILED: frozenset({DeliveryState.QUEUED}),
    DeliveryState.EXPIRED: frozenset({DeliveryState.QUEUED}),
    DeliveryState.DEAD_LETTERED: frozenset({DeliveryState.QUEUED}),
}


class OutboxState(StrEnum):
    """State of a work item in the ``outbox`` table (the ``sql`` queue)."""

    READY = "ready"
    LEASED = "leased"
    DEAD = "dead"


class WorkKind(StrEnum):
    """What a worker does with a queue item; the item's ``ref`` names the row to act on."""

    DELIVER_EDOC = "deliver_edoc"
    """``ref`` = delivery id of an outgoing edoc."""
    DELIVER_STATUS = "deliver_status"
    """``ref`` = delivery id of an outgoing status packet (incl. 01 arrived)."""
    WEBHOOK = "webhook"
    """``ref`` = document id to announce to the agency's DMS."""


class EventKind(StrEnum):
    """Common event kinds. ``events.kind`` is free text so that new use cases can add kinds
    without a migration; these are the ones the core writes."""

    SUBMITTED = "submitted"
    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    RETRY_SCHEDULED = "retry_scheduled"
    FAILED = "failed"
    EXPIRED = "expired"
    DEAD_LETTERED = "dead_lettered"
    RECEIVED = "received"
    DUPLICATE = "duplicate"
    RECEIPT_SENT = "receipt_sent"
    STATUS_SENT = "status_sent"
    STATUS_RECEIVED = "status_received"
    SECURITY = "security"
