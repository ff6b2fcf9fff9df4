"""Reading a multipart submission: one ``metadata`` part (JSON object) and ``file`` parts.

Rules:
1. Parts are streamed with a cap per part and in total (``UploadLimits``); an oversized body
   is ``payload_too_large`` before it is all read.
2. Everything wrong with the request's shape is reported together as ``validation_failed``
   with ``errors`` ([{field, message}]); the metadata's own problems are added by the one
   converter (``docnode.metadata``), so a clerk sees every bad field at once.
3. ``request_digest`` is what an ``Idempotency-Key`` is bound to: the metadata (canonical
   JSON) and each file's name, media type and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from docnode.api.context import UploadLimits
from docnode.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from docnode.metadata import FileInput
from docnode.store.types import canonical_json

CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Submission:
    meta: Any
    """The parsed ``metadata`` part (should be an object; checked by the converter)."""
    files: tuple[FileInput, ...]
    problems: tuple[dict[str, str], ...] = field(default=())
    """Shape problems found while reading (rule 2)."""


async def _read_part(part: BodyPartReader, cap: int, total: list[int],
                     limits: UploadLimits) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await part.read_chunk(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        total[0] += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"part {part.name!r} is larger than {cap} bytes",
                                  detail={"part": part.name or "", "limit": cap})
        if total[0] > limits.max_total_bytes:
            raise PayloadTooLarge(f"the request is larger than {limits.max_total_bytes} bytes",
                                  detail={"limit": limits.max_total_bytes})
        chunks.append(chunk)
    return b"".join(chunks)


def _metadata(raw: bytes, problems: list[dict[str, str]]) -> Any:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append({"field": "metadata", "message": f"not JSON: {exc}"})
        return None
    if not isinstance(meta, dict):
        problems.append({"field": "metadata", "message": "expected a JSON object"})
    return meta


async def _file(part: BodyPartReader, index: int, total: list[int], limits: UploadLimits,
                problems: list[dict[str, str]]) -> FileInput:
    if index >= limits.max_files:
        raise PayloadTooLarge(f"more than {limits.max_files} files",
                              detail={"limit": limits.max_files})
    data = await _read_part(part, limits.max_file_bytes, total, limits)
    name = part.filename or ""
    if not name.strip():
        problems.append({"field": f"files[{index}]", "message": "a file part needs a filename"})
    ctype = part.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
    return FileInput(name=name or "file", data=data,
                     content_type=ctype or "application/octet-stream")


async def read_submission(request: web.Request, limits: UploadLimits, *,
                          files_required: bool = True) -> Submission:
    """Read the multipart body (rules 1, 2)."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("send multipart/form-data with a 'metadata' part and "
                                   "'file' parts",
                                   detail={"content_type": request.content_type})
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise UnsupportedMediaType(f"unreadable multipart body: {exc}") from exc
    problems: list[dict[str, str]] = []
    meta: Any = None
    seen_meta = False
    files: list[FileInput] = []
    total = [0]
    try:
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                problems.append({"field": "body", "message": "nested multipart is not allowed"})
                continue
            if part.name == "metadata":
                raw = await _read_part(part, limits.max_metadata_bytes, total, limits)
                if seen_meta:
                    problems.append({"field": "metadata", "message": "given more than once"})
                    continue
                seen_meta = True
                meta = _metadata(raw, problems)
            elif part.name == "file":
                files.append(await _file(part, len(files), total, limits, problems))
            else:
                await _read_part(part, limits.max_metadata_bytes, total, limits)
                problems.append({"field": str(part.name or "(unnamed part)"),
                                 "message": "unknown part (expected 'metadata' or 'file')"})
    except (ValueError, HttpProcessingError) as exc:  # aiohttp: broken boundaries, headers
        raise UnsupportedMediaType("unreadable multipart body",
                                   detail={"error": type(exc).__name__}) from exc
    if not seen_meta:
        problems.append({"field": "metadata", "message": "is required"})
    if files_required and not files:
        problems.append({"field": "file", "message": "at least one file is required"})
    return Submission(meta, tuple(files), tuple(problems))


def fail(problems: Sequence[dict[str, str]], extra: ValidationFailed | None = None) -> None:
    """Raise one ``validation_failed`` with every problem (rule 2), if there is any."""
    items = list(problems)
    if extra is not None:
        more = extra.detail.get("errors")
        items.extend(more if isinstance(more, list) else
                     [{"field": "", "message": extra.message}])
    if items:
        raise ValidationFailed(f"{len(items)} invalid field(s)", detail={"errors": items})


def request_digest(meta: Any, files: Sequence[FileInput]) -> str:
    """Rule 3."""
    body = {"metadata": meta,
            "files": [[f.name, f.content_type, hashlib.sha256(f.data).hexdigest()]
                      for f in files]}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()
