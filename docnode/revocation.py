"""Fetching revocation data over the network: OCSP POST and CRL download (aiohttp).

``keystore`` only checks revocation data it is given; this module gets it (pyHanko's
fetchers behind a small interface, ``pyhanko_certvalidator/fetchers/api.py``).

Rules:
1. Every fetch has a timeout and a size bound; an oversized or slow answer is no answer.
2. Any failure to obtain data — no URL, connection refused, timeout, HTTP error, wrong
   content, too large — is ``RevocationUnknown`` (INDETERMINATE, retryable), never a pass.
   The caller's revocation rule decides what that means.
3. OCSP answers are returned as the raw DER bytes (the evidence to store and to hand to
   ``TrustStore.validate(ocsp_responses=…)``); :func:`ocsp_status` also checks them.
4. CRL URLs may be ``http(s):`` or ``file:`` (the dev CA publishes file: CRLs).
5. Whoever creates the ClientSession closes it: a borrowed session is never closed here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol
from urllib.parse import unquote, urlparse

import aiohttp
from cryptography import x509

from keystore import ocsp
from keystore.errors import CertificateRevoked, Reason, RevocationUnknown, TrustConfigInvalid
from keystore.trust import TrustStore, crl_urls, load_crl, ocsp_urls

DEFAULT_TIMEOUT_S = 10.0
"""Total time allowed for one OCSP exchange or CRL download."""
MAX_OCSP_BYTES = 64 * 1024
"""An OCSP response for one certificate is a few KB."""
MAX_CRL_BYTES = 32 * 1024 * 1024
"""National CA CRLs run to megabytes; beyond this we stop reading."""
OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"


class RevocationFetcher(Protocol):
    """What the daemon needs to obtain revocation data."""

    async def fetch_ocsp(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        *,
        nonce: bytes | None = None,
        url: str | None = None,
    ) -> bytes:
        """DER OCSP response for ``cert`` from its AIA responder (or ``url``)."""
        ...

    async def fetch_crl(self, url: str) -> x509.CertificateRevocationList:
        """The CRL published at ``url`` (not yet checked: TrustStore does that)."""
        ...


@dataclass(frozen=True)
class FetchLimits:
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_ocsp_bytes: int = MAX_OCSP_BYTES
    max_crl_bytes: int = MAX_CRL_BYTES


DEFAULT_FETCH_LIMITS = FetchLimits()


class AiohttpRevocationFetcher:
    """:class:`RevocationFetcher` over aiohttp. Use as ``async with`` or call
    :meth:`close`; a ``session`` passed in stays open (its owner closes it)."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        limits: FetchLimits = DEFAULT_FETCH_LIMITS,
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self.limits = limits

    async def __aenter__(self) -> AiohttpRevocationFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _read_bounded(self, response: aiohttp.ClientResponse, limit: int) -> bytes | None:
        if response.content_length is not None and response.content_length > limit:
            return None
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    async def fetch_ocsp(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        *,
        nonce: bytes | None = None,
        url: str | None = None,
    ) -> bytes:
        urls = (url,) if url is not None else ocsp_urls(cert)
        if not urls:
            raise RevocationUnknown(
                "the certificate names no OCSP responder", reason=Reason.NO_REVOCATION_SOURCE
            )
        request = ocsp.build_request(cert, issuer, nonce=nonce)
        timeout = aiohttp.ClientTimeout(total=self.limits.timeout_s)
        failures: list[str] = []
        for target in urls:  # the first responder that answers wins
            if urlparse(target).scheme not in ("http", "https"):
                failures.append(f"{target}: unsupported scheme")
                continue
            try:
                async with self._client().post(
                    target,
                    data=request,
                    headers={"Content-Type": OCSP_REQUEST_TYPE, "Accept": OCSP_RESPONSE_TYPE},
                    timeout=timeout,
                ) as response:
                    if response.status != 200:
                        failures.append(f"{target}: HTTP {response.status}")
                        continue
                    body = await self._read_bounded(response, self.limits.max_ocsp_bytes)
            except (aiohttp.ClientError, TimeoutError) as exc:
                failures.append(f"{target}: {type(exc).__name__}")
                continue
            if body is None:
                failures.append(f"{target}: response too large")
                continue
            return body
        raise RevocationUnknown(
            "no OCSP responder answered (" + "; ".join(failures) + ")",
            reason=Reason.OCSP_UNAVAILABLE,
        )

    async def fetch_crl(self, url: str) -> x509.CertificateRevocationList:
        parsed = urlparse(url)
        if parsed.scheme == "file":
            data = await asyncio.to_thread(_read_file, Path(unquote(parsed.path)), self.limits)
        elif parsed.scheme in ("http", "https"):
            data = await self._download(url)
        else:
            raise RevocationUnknown(f"unsupported CRL URL {url!r}", reason=Reason.CRL_MISSING)
        try:
            return load_crl(data)
        except TrustConfigInvalid as exc:
            raise RevocationUnknown(f"{url} holds no CRL", reason=Reason.CRL_MISSING) from exc

    async def _download(self, url: str) -> bytes:
        timeout = aiohttp.ClientTimeout(total=self.limits.timeout_s)
        try:
            async with self._client().get(url, timeout=timeout) as response:
                if response.status != 200:
                    raise RevocationUnknown(
                        f"CRL download from {url}: HTTP {response.status}",
                        reason=Reason.CRL_MISSING,
                    )
                body = await self._read_bounded(response, self.limits.max_crl_bytes)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RevocationUnknown(
                f"CRL download from {url} failed: {type(exc).__name__}", reason=Reason.CRL_MISSING
            ) from exc
        if body is None:
            raise RevocationUnknown(f"CRL at {url} is too large", reason=Reason.CRL_MISSING)
        return body


def _read_file(path: Path, limits: FetchLimits) -> bytes:
    try:
        if path.stat().st_size > limits.max_crl_bytes:
            raise RevocationUnknown(f"CRL file {path} is too large", reason=Reason.CRL_MISSING)
        return path.read_bytes()
    except OSError as exc:
        raise RevocationUnknown(
            f"cannot read CRL file {path}: {exc.strerror}", reason=Reason.CRL_MISSING
        ) from exc


async def ocsp_status(
    fetcher: RevocationFetcher,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    at: datetime,
    allow_sha1: bool = False,
) -> tuple[ocsp.OcspResult, bytes]:
    """Ask the certificate's responder (with a fresh nonce) and check the answer as of
    ``at``. Returns the result and the DER evidence for a good certificate; raises
    CertificateRevoked for a revoked one and RevocationUnknown when the responder does
    not know it or cannot be reached."""
    nonce = os.urandom(16)
    data = await fetcher.fetch_ocsp(cert, issuer, nonce=nonce)
    result = ocsp.check_response(
        data, cert=cert, issuer=issuer, at=at, nonce=nonce, allow_sha1=allow_sha1
    )
    if result.status is ocsp.OcspCertStatus.REVOKED:
        raise CertificateRevoked(
            f"{cert.subject.rfc4514_string()} is revoked (OCSP)",
            revoked_at=result.revoked_at,
            crl_reason=result.revocation_reason,
        )
    if result.status is ocsp.OcspCertStatus.UNKNOWN:
        raise RevocationUnknown(
            "the OCSP responder does not know the certificate", reason=Reason.OCSP_UNAVAILABLE
        )
    return result, data


async def fetch_crls_for(
    fetcher: RevocationFetcher, certs: Iterable[x509.Certificate]
) -> tuple[list[x509.CertificateRevocationList], list[RevocationUnknown]]:
    """Download the CRLs named by ``certs`` (each URL once). Returns what could be
    fetched and the failures, for a refresh job that installs the former
    (``TrustStore.replace_crls``) and logs the latter."""
    urls: list[str] = list(dict.fromkeys(u for c in certs for u in crl_urls(c)))
    results = await asyncio.gather(*(fetcher.fetch_crl(u) for u in urls), return_exceptions=True)
    crls: list[x509.CertificateRevocationList] = []
    failures: list[RevocationUnknown] = []
    for outcome in results:
        if isinstance(outcome, RevocationUnknown):
            failures.append(outcome)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            crls.append(outcome)
    return crls, failures


async def refresh_crls(
    fetcher: RevocationFetcher, store: TrustStore, certs: Iterable[x509.Certificate]
) -> list[RevocationUnknown]:
    """Fetch the CRLs ``certs`` point to and install, in one step, every one newer than
    what ``store`` holds for its issuer (which empties the store's validation cache).
    Older or equal CRLs change nothing. Returns the fetch failures (for the log)."""
    fresh, failures = await fetch_crls_for(fetcher, certs)
    current = {crl.issuer: crl for crl in store.crls}
    changed = False
    for crl in fresh:
        held = current.get(crl.issuer)
        if held is None or crl.last_update_utc > held.last_update_utc:
            current[crl.issuer] = crl
            changed = True
    if changed:
        others = [c for c in store.crls if c.issuer not in current]
        store.replace_crls([*others, *current.values()])
    return failures


__all__: Sequence[str] = (
    "DEFAULT_FETCH_LIMITS",
    "AiohttpRevocationFetcher",
    "FetchLimits",
    "RevocationFetcher",
    "fetch_crls_for",
    "ocsp_status",
    "refresh_crls",
)
