"""Named limits for hostile input (h11's DEFAULT_MAX_INCOMPLETE_EVENT_SIZE, sigstore's
MAX_ALLOWED_TIMESTAMP): one frozen value, passed in by the caller, never read from a global.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds applied while parsing and decoding a packet."""

    max_packet_bytes: int = 64 * MiB
    """Total size of the packet as received (bytes)."""
    max_depth: int = 256
    """Deepest element nesting accepted."""
    max_attachments: int = 100
    """Number of ``Attachment`` elements (and manifest references) accepted."""
    max_attachment_bytes: int = 48 * MiB
    """Decoded size of one attachment, after base64 and after unzipping."""
    max_total_attachment_bytes: int = 256 * MiB
    """Decoded size of all attachments together (zip-bomb guard across entries)."""
    max_zip_ratio: int = 200
    """Largest uncompressed/compressed ratio accepted for a zipped attachment."""

    def __post_init__(self) -> None:
        for name in (
            "max_packet_bytes",
            "max_depth",
            "max_attachments",
            "max_attachment_bytes",
            "max_total_attachment_bytes",
            "max_zip_ratio",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive")


DEFAULT_LIMITS = Limits()
"""The defaults of ``[limits]`` in ``config.example.toml``."""
