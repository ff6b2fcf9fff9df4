"""Health checks: small functions returning a tiny value (X-Road's HealthCheckResult).

``/healthz`` says the process is alive; ``/readyz`` aggregates the checks below and answers
503 when any fails. Issue 9 adds more checks (queue age, axis reachability) here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from docnode.logging import get_logger

log = get_logger("health")


@dataclass(frozen=True, slots=True)
class HealthResult:
    name: str
    ok: bool
    detail: str = ""


HealthCheck = Callable[[], Awaitable[HealthResult]]


async def run_checks(checks: Sequence[HealthCheck]) -> list[HealthResult]:
    results: list[HealthResult] = []
    for check in checks:
        try:
            results.append(await check())
        except Exception as exc:
            log.warning("health_check_failed", check=getattr(check, "__name__", "?"),
                        error=type(exc).__name__)
            results.append(HealthResult(getattr(check, "__name__", "check"), False,
                                        type(exc).__name__))
    return results


async def tcp_reachable(name: str, url: str, *, timeout_s: float = 2.0) -> HealthResult:
    """Whether a TCP connection to ``url``'s host and port opens within ``timeout_s`` (the
    axis check of ``/readyz``; nothing is sent)."""
    import asyncio
    import contextlib
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.hostname:
        return HealthResult(name, False, "not a URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port),
                                           timeout_s)
    except (OSError, TimeoutError) as exc:
        return HealthResult(name, False, f"{parts.hostname}:{port} unreachable "
                                         f"({type(exc).__name__})")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return HealthResult(name, True, f"{parts.hostname}:{port} reachable")
