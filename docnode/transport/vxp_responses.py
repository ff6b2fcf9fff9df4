"""VXP response JSON (spec/vxp-test-vectors.md §4), sans I/O: building answers the reference
SDK can parse, and parsing an axis's answers into our errors.

Rules:
1. Every answer carries string ``status`` (``OK``/``FAIL``), ``ErrorCode`` (``"0"`` = success,
   else our stable error code) and ``ErrorDesc``; no JSON ``null`` anywhere (the SDK drops an
   answer holding one): the builders turn ``None`` into ``""``. Failure texts are ASCII (the
   SDK decodes the sendEdoc answer as US-ASCII).
2. Parsing maps ``ErrorCode`` to a class: ``axis_auth_failed``, ``stale_timestamp`` and
   ``replayed_request`` to theirs, a code our registry calls permanent to ``axis_rejected``,
   anything else to the retryable ``axis_error``; ``detail["axis_code"]`` keeps the axis's code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from docnode import errors

ERROR_OK = "0"


def _no_null(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return {str(k): _no_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_null(v) for v in value]
    return value


def _clean(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): _no_null(v) for k, v in answer.items()}


def ok_response(**fields: Any) -> dict[str, Any]:
    """A success answer (``status`` OK, ``ErrorCode`` "0"); ``None`` anywhere becomes ``""``."""
    return _clean({"status": "OK", "ErrorCode": ERROR_OK, "ErrorDesc": "", **fields})


def fail_response(code: str, description: str, **fields: Any) -> dict[str, Any]:
    """A failure answer; ``code`` is our stable error code, the description ASCII only
    (sendEdoc answers are decoded as US-ASCII by the SDK)."""
    ascii_desc = description.encode("ascii", "replace").decode("ascii")
    return _clean({"status": "FAIL", "ErrorCode": code, "ErrorDesc": ascii_desc, **fields})


def encode_response(answer: Mapping[str, Any]) -> bytes:
    return json.dumps(_no_null(answer), separators=(",", ":"), ensure_ascii=False).encode()


_CODE_CLASSES: dict[str, type[errors.DocnodeError]] = {
    errors.AxisAuthFailed.code: errors.AxisAuthFailed,
    errors.ReplayedRequest.code: errors.ReplayedRequest,
    errors.StaleTimestamp.code: errors.StaleTimestamp,
}


def parse_response(body: bytes) -> dict[str, Any]:
    """The JSON answer of a call; raise the mapped error when it is not a success.

    ``axis_auth_failed`` / ``replayed_request`` map to their classes; codes of a refused packet
    (ours are the registry's non-retryable codes, another axis's are opaque) map to
    ``axis_rejected`` when our registry calls them permanent, anything else to ``axis_error``
    (retryable). ``detail["axis_code"]`` always carries the axis's ErrorCode.
    """
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.AxisError("the axis answer is not JSON") from exc
    if not isinstance(answer, dict):
        raise errors.AxisError("the axis answer is not a JSON object")
    code = str(answer.get("ErrorCode", ""))
    status = str(answer.get("status", ""))
    if code == ERROR_OK and status.upper() in ("OK", "SUCCESS"):
        return answer
    desc = str(answer.get("ErrorDesc", ""))[:500]
    # ``peer_code``: the reason a delivery records when the axis refuses it (as for a peer)
    detail: dict[str, object] = {"axis_code": code, "peer_code": code, "axis_status": status}
    cls = _CODE_CLASSES.get(code)
    if cls is not None:
        raise cls(f"axis: {desc}", detail=detail)
    spec = errors.REGISTRY.get(code)
    if spec is not None and not spec.retryable:
        raise errors.AxisRejected(f"axis refused ({code}): {desc}", detail=detail)
    raise errors.AxisError(f"axis error ({code or status or 'no code'}): {desc}", detail=detail)
