"""Attachment payloads: ZIP + base64 on the way out, strict decoding on the way in (§2.3.4).

Rules:

1. Sending (:attr:`AttachmentEncoding.ZIP`, the VNPT SDK convention): each file becomes a ZIP
   with ONE entry (deflated, or stored when a sample of the bytes does not compress) named
   ``<sha256 prefix of the bytes><original extension>``, fixed 1980-01-01 timestamp and
   attributes, so the same input always gives the same bytes; the ZIP is base64-encoded on
   one line and labelled ``application/zip``.
   :attr:`AttachmentEncoding.RAW` sends the bytes base64-encoded with their own content type.
2. Receiving: base64 must be canonical (``a2b_base64(strict_mode=True)`` plus zero padding
   bits); the declared size is checked before decoding. Bytes starting with ``PK\\x03\\x04`` are
   unzipped: exactly one stored/deflated, unencrypted entry, declared and actual size within
   ``max_attachment_bytes``, compression ratio within ``max_zip_ratio`` (above
   :data:`RATIO_FLOOR_BYTES`), read in bounded chunks. Every failure is
   :class:`AttachmentInvalid` / :class:`AttachmentTooLarge`.
3. The wire label ``application/zip`` says nothing about the file inside, so after unzipping
   the content type is derived from the attachment name with the fixed table
   :data:`CONTENT_TYPES` (no ``mimetypes``: it reads system files and differs by machine).
"""

from __future__ import annotations

import binascii
import hashlib
import io
import re
import zipfile
import zlib
from enum import StrEnum

from envelopes import _zip
from envelopes.errors import AttachmentInvalid, AttachmentTooLarge, InvalidField
from envelopes.limits import Limits

ZIP_MAGIC = b"PK\x03\x04"
ZIP_CONTENT_TYPE = "application/zip"
OCTET_STREAM = "application/octet-stream"
RATIO_FLOOR_BYTES = 1024 * 1024
"""Entries smaller than this are not ratio-checked: they cannot amplify into a bomb."""
_ZIP_OVERHEAD = 64 * 1024
"""Slack allowed for ZIP headers when checking the encoded size before decoding."""
_SAMPLE = 64 * 1024
"""Bytes test-compressed to decide between deflate and store (rule 1)."""
_EXTERNAL_ATTR = 0o644 << 16
"""rw-r--r--, fixed (zipfile would take nothing from the platform here either)."""
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}")
_PLACEHOLDER = re.compile(r"\$\{[^{}]*\}")
_WHITESPACE = re.compile(r"[ \t\r\n]+")

CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".rtf": "application/rtf",
    ".txt": "text/plain",
    ".xml": "application/xml",
    ".edxml": "application/xml",
    ".zip": "application/zip",
    ".rar": "application/vnd.rar",
    ".7z": "application/x-7z-compressed",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}
"""File extension → content type used after unzipping (rule 3)."""


class AttachmentEncoding(StrEnum):
    """How attachments are put on the wire (rule 1)."""

    ZIP = "zip"
    RAW = "raw"


def extension(name: str) -> str:
    """The original extension of ``name`` if it is a plain one (``.pdf``), else ``""``."""
    dot = name.rfind(".")
    if dot <= 0:
        return ""
    ext = name[dot:]
    return ext if _EXTENSION.fullmatch(ext) else ""


def guess_content_type(name: str) -> str:
    """Rule 3: the content type for a file name (``application/octet-stream`` if unknown)."""
    return CONTENT_TYPES.get(extension(name).lower(), OCTET_STREAM)


def zip_one(name: str, data: bytes) -> bytes:
    """Rule 1: a deterministic single-entry ZIP of ``data``."""
    entry = hashlib.sha256(data).hexdigest()[:32] + extension(name)
    # Already-compressed files (PDF streams, DOCX, images) do not shrink and deflate runs at
    # ~20 MB/s on them: store those. The choice depends only on the bytes (deterministic).
    sample = data[:_SAMPLE]
    method = _zip.DEFLATED
    if sample and len(zlib.compress(sample, 1)) >= len(sample) * 0.95:
        method = _zip.STORED
    return _zip.write_one(entry, data, method=method, external_attr=_EXTERNAL_ATTR)


def encode_payload(
    name: str, data: bytes, content_type: str, encoding: AttachmentEncoding
) -> tuple[bytes, str]:
    """Rule 1: ``(base64 on one line as ASCII bytes, ContentType on the wire)``."""
    if encoding is AttachmentEncoding.ZIP:
        payload, wire_type = zip_one(name, data), ZIP_CONTENT_TYPE
    else:
        if data.startswith(ZIP_MAGIC):
            # A receiver unzips anything that starts like a ZIP (§2.3.4): raw would be misread.
            raise InvalidField(
                f"{name!r} starts like a ZIP file; send it with AttachmentEncoding.ZIP",
                element="Attachment",
            )
        payload, wire_type = data, content_type
    return binascii.b2a_base64(payload, newline=False), wire_type


def decode_payload(
    text: str,
    *,
    name: str,
    limits: Limits,
    lenient: bool = False,
    line: int | None = None,
) -> tuple[bytes, bool, tuple[str, ...]]:
    """Rule 2: ``(user-facing bytes, was zipped, warnings)``."""
    warnings: list[str] = []
    if lenient and _WHITESPACE.search(text):
        text = _WHITESPACE.sub("", text)
        warnings.append(f"attachment {name!r}: whitespace inside the base64 payload removed")
    if lenient and _PLACEHOLDER.fullmatch(text):
        warnings.append(
            f"attachment {name!r}: payload is a template placeholder ({text[:40]!r}), "
            "not base64; read as an empty file"
        )
        return b"", False, tuple(warnings)
    if len(text) // 4 * 3 > limits.max_attachment_bytes + _ZIP_OVERHEAD:
        raise AttachmentTooLarge(
            f"attachment {name!r} encodes more than {limits.max_attachment_bytes} bytes",
            element="ContentTransferEncoded",
            line=line,
        )
    data = _strict_b64(text, name=name, line=line)
    if data.startswith(ZIP_MAGIC):
        return _unzip(data, name=name, limits=limits, line=line), True, tuple(warnings)
    if len(data) > limits.max_attachment_bytes:
        raise AttachmentTooLarge(
            f"attachment {name!r} is {len(data)} bytes, the limit is {limits.max_attachment_bytes}",
            element="ContentTransferEncoded",
            line=line,
        )
    return data, False, tuple(warnings)


def _strict_b64(text: str, *, name: str, line: int | None) -> bytes:
    try:
        data = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise AttachmentInvalid(
            f"attachment {name!r} is not canonical base64: {exc}",
            element="ContentTransferEncoded",
            line=line,
        ) from exc
    if data:
        # strict_mode ignores the padding bits of the last quantum; canonical means zero.
        last = len(data) - (len(data) - 1) // 3 * 3
        if binascii.b2a_base64(data[-last:], newline=False).decode("ascii") != text[-4:]:
            raise AttachmentInvalid(
                f"attachment {name!r} is not canonical base64 (non-zero padding bits)",
                element="ContentTransferEncoded",
                line=line,
            )
    return data


def _unzip(data: bytes, *, name: str, limits: Limits, line: int | None) -> bytes:
    def invalid(reason: str) -> AttachmentInvalid:
        return AttachmentInvalid(
            f"attachment {name!r}: {reason}", element="ContentTransferEncoded", line=line
        )

    def too_large(size: int) -> AttachmentTooLarge:
        return AttachmentTooLarge(
            f"attachment {name!r} unzips to {size} bytes or more, the limit is "
            f"{limits.max_attachment_bytes}",
            element="ContentTransferEncoded",
            line=line,
        )

    def check_declared(declared: int, compress_size: int) -> None:
        if declared > limits.max_attachment_bytes:
            raise too_large(declared)
        ratio = declared // max(compress_size, 1)
        if declared > RATIO_FLOOR_BYTES and ratio > limits.max_zip_ratio:
            raise invalid(f"compression ratio {ratio} exceeds {limits.max_zip_ratio} (zip bomb?)")

    # The plain layout every sender we know writes, read without zipfile (envelopes._zip);
    # anything else, or an entry that is not exactly as declared, goes through zipfile.
    plain = _zip.plain_entry(data)
    if plain is not None:
        check_declared(plain.file_size, plain.compress_size)
        content = plain.extract(data)
        if content is not None:
            return content
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) != 1:
                raise invalid(f"a ZIP attachment must hold exactly one entry, not {len(infos)}")
            info = infos[0]
            if info.flag_bits & 0x1:
                raise invalid("the ZIP entry is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise invalid(f"unsupported ZIP compression method {info.compress_type}")
            if info.is_dir():
                raise invalid("the ZIP entry is a directory")
            declared = info.file_size
            check_declared(declared, info.compress_size)
            with archive.open(info) as stream:
                # Bounded: zipfile inflates in chunks up to the size asked for, which the
                # checks above capped; one byte more detects an entry longer than declared.
                out = stream.read(declared + 1)
            if len(out) > declared:
                raise invalid("the ZIP entry is longer than it declares")
            if len(out) != declared:
                raise invalid("the ZIP entry is shorter than it declares")
            return out
    except (AttachmentInvalid, AttachmentTooLarge):
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        OSError,
        EOFError,
        RuntimeError,
        NotImplementedError,
        ValueError,
        KeyError,
        IndexError,
        OverflowError,
    ) as exc:
        raise invalid(f"corrupt ZIP: {exc}") from exc
