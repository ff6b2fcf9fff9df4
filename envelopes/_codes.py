"""Code lists of edXML (spec/edxml.md §2.3.3, §2.3.7, §2.4) with stable wire values."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class StatusCode(StrEnum):
    """Status packet codes (spec §2.4); two-digit strings on the wire."""

    ARRIVED = "01"
    REFUSED = "02"
    ACCEPTED = "03"
    ASSIGNED = "04"
    PROCESSING = "05"
    COMPLETED = "06"
    TAKE_BACK = "13"
    CHANGE_AGREED = "15"
    CHANGE_REFUSED = "16"

    @property
    def meaning(self) -> str:
        """What the code says, as in spec §2.4."""
        return _STATUS_MEANINGS[self]


_STATUS_MEANINGS = {
    StatusCode.ARRIVED: "Arrived (đã đến): received by the software, not yet handled by a clerk",
    StatusCode.REFUSED: "Refused (từ chối tiếp nhận) by the clerk; reason in Description",
    StatusCode.ACCEPTED: "Accepted and entered in the incoming register (tiếp nhận, vào sổ)",
    StatusCode.ASSIGNED: "Assigned for handling by leadership (phân công)",
    StatusCode.PROCESSING: "Being processed (đang xử lý)",
    StatusCode.COMPLETED: "Handling completed (hoàn thành)",
    StatusCode.TAKE_BACK: "The sender asks to take the document back (lấy lại), with a reason",
    StatusCode.CHANGE_AGREED: "The recipient agrees to the update / take-back / revocation",
    StatusCode.CHANGE_REFUSED: "The recipient refuses the update / take-back / revocation",
}


class BusinessDocType(IntEnum):
    """``Bussiness/BussinessDocType`` (spec §2.3.3, §2.5)."""

    NEW = 0
    REVOCATION = 1
    UPDATE = 2
    REPLACEMENT = 3


class Priority(IntEnum):
    """``OtherInfo/Priority`` — độ khẩn (spec §2.3.7)."""

    NORMAL = 0
    URGENT = 1  # Khẩn
    VERY_URGENT = 2  # Thượng khẩn
    EXPRESS = 3  # Hỏa tốc
    EXPRESS_SCHEDULED = 4  # Hỏa tốc hẹn giờ


class SteeringType(IntEnum):
    """``SteeringType`` (spec §2.3.7)."""

    NONE = 0
    STEERING = 1
    STEERING_REPORT = 2
