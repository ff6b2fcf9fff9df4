"""Revocation fetching against a REAL local OCSP responder and CRL server (aiohttp, loopback).

The responder is ``DevCA.ocsp_response`` (the dev CA's records, answered with
``keystore.ocsp.build_response``) behind an aiohttp route.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from docnode.revocation import (
    AiohttpRevocationFetcher,
    FetchLimits,
    fetch_crls_for,
    ocsp_status,
    refresh_crls,
)
from keystore import ocsp
from keystore.ca import DevCA
from keystore.errors import CertificateRevoked, Reason, RevocationUnknown
from keystore.trust import RevocationSource, TrustStore

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Responder:
    """A loopback OCSP responder + CRL server for one dev CA."""

    ca: DevCA
    base: str
    requests: int = 0
    unknown_serials: set[int] = field(default_factory=set)

    def leaf(self, name: str = "x", **kw: object) -> x509.Certificate:
        return self.ca.issue_signing(
            "G22",
            name,
            valid_from=NOW - timedelta(hours=1),
            **kw,  # type: ignore[arg-type]
        ).certificate


def _handlers(state: dict[str, Responder]) -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        r = state["r"]
        r.requests += 1
        data = await request.read()
        info = ocsp.parse_request(data)
        if info.serial_number in r.unknown_serials:  # a responder that lost its records
            body = ocsp.build_response(
                request=info,
                issuer=r.ca.issuing,
                responder_cert=r.ca.issuing,
                responder_key=r.ca.issuing_key,
                status=ocsp.OcspCertStatus.UNKNOWN,
                this_update=NOW - timedelta(minutes=1),
                next_update=NOW + timedelta(hours=1),
                nonce=info.nonce,
            )
        else:  # the dev CA answers from its records
            body = r.ca.ocsp_response(data, at=NOW)
        return web.Response(body=body, content_type="application/ocsp-response")

    async def crl(_request: web.Request) -> web.Response:
        data = state["r"].ca.crl(at=NOW).public_bytes(serialization.Encoding.DER)
        return web.Response(body=data, content_type="application/pkix-crl")

    async def huge(_request: web.Request) -> web.Response:
        return web.Response(body=b"0" * 200_000)

    async def broken(_request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/ocsp", answer)
    app.router.add_get("/crl.der", crl)
    app.router.add_get("/huge", huge)
    app.router.add_post("/huge", huge)
    app.router.add_post("/broken", broken)
    return app


@pytest.fixture
async def responder(tmp_path: Path) -> AsyncIterator[Responder]:
    state: dict[str, Responder] = {}
    runner = web.AppRunner(_handlers(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    ca = DevCA.init(
        tmp_path / "ca",
        now=NOW - timedelta(days=1),
        ocsp_url=f"{base}/ocsp",
        crl_url=f"{base}/crl.der",
    )
    state["r"] = Responder(ca=ca, base=base)
    try:
        yield state["r"]
    finally:
        await runner.cleanup()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when we return: nobody listens


async def test_ocsp_good(responder: Responder) -> None:
    good = responder.leaf()
    async with AiohttpRevocationFetcher() as fetcher:
        result, evidence = await ocsp_status(fetcher, good, responder.ca.issuing, at=NOW)
    assert result.status is ocsp.OcspCertStatus.GOOD
    # the evidence is what TrustStore.validate takes as input
    store = TrustStore(anchors=[responder.ca.root], intermediates=[responder.ca.issuing])
    validated = store.validate(good, at=NOW, ocsp_responses=[evidence])
    assert validated.revocation.source is RevocationSource.OCSP
    assert responder.requests == 1


async def test_ocsp_revoked(responder: Responder) -> None:
    bad = responder.leaf()
    responder.ca.revoke(bad, at=NOW - timedelta(minutes=10))
    async with AiohttpRevocationFetcher() as fetcher:
        with pytest.raises(CertificateRevoked) as revoked:
            await ocsp_status(fetcher, bad, responder.ca.issuing, at=NOW)
        raw = await fetcher.fetch_ocsp(bad, responder.ca.issuing)
    assert revoked.value.code == "certificate_revoked"
    assert revoked.value.revoked_at == NOW - timedelta(minutes=10)
    store = TrustStore(anchors=[responder.ca.root], intermediates=[responder.ca.issuing])
    with pytest.raises(CertificateRevoked):
        store.validate(bad, at=NOW, ocsp_responses=[raw])


async def test_ocsp_unknown(responder: Responder) -> None:
    odd = responder.leaf()
    responder.unknown_serials.add(odd.serial_number)
    async with AiohttpRevocationFetcher() as fetcher:
        with pytest.raises(RevocationUnknown) as unknown:
            await ocsp_status(fetcher, odd, responder.ca.issuing, at=NOW)
    assert unknown.value.code == "revocation_unknown"
    assert unknown.value.reason is Reason.OCSP_UNAVAILABLE


async def test_ocsp_foreign_issuer_is_refused_by_the_responder(
    responder: Responder, tmp_path: Path
) -> None:
    other = DevCA.init(tmp_path / "other", now=NOW - timedelta(days=1))
    stranger = other.issue_signing("G22", "x", valid_from=NOW - timedelta(hours=1)).certificate
    async with AiohttpRevocationFetcher() as fetcher:
        data = await fetcher.fetch_ocsp(stranger, other.issuing, url=f"{responder.base}/ocsp")
    with pytest.raises(RevocationUnknown) as info:
        ocsp.check_response(data, cert=stranger, issuer=other.issuing, at=NOW)
    assert info.value.reason is Reason.OCSP_UNAVAILABLE  # an "unauthorized" answer


async def test_ocsp_unreachable_is_indeterminate(responder: Responder) -> None:
    cert = responder.leaf()
    port = _closed_port()
    async with AiohttpRevocationFetcher(limits=FetchLimits(timeout_s=5)) as fetcher:
        for url in (
            f"http://127.0.0.1:{port}/ocsp",  # connection refused
            f"{responder.base}/broken",  # HTTP 500
            f"{responder.base}/huge",  # beyond the size bound
            "ldap://example/ocsp",  # not a scheme we speak
        ):
            with pytest.raises(RevocationUnknown) as info:
                await fetcher.fetch_ocsp(cert, responder.ca.issuing, url=url)
            assert info.value.reason is Reason.OCSP_UNAVAILABLE, url
        bare = responder.leaf(ocsp_url=None)
        with pytest.raises(RevocationUnknown) as info:
            await fetcher.fetch_ocsp(bare, responder.ca.issuing)
        assert info.value.reason is Reason.NO_REVOCATION_SOURCE


async def test_crl_download_http_and_file(responder: Responder) -> None:
    revoked = responder.leaf()
    responder.ca.revoke(revoked, at=NOW - timedelta(minutes=5))
    file_ca_leaf = responder.leaf(crl_url=(responder.ca.directory / "crl.pem").as_uri())
    async with AiohttpRevocationFetcher() as fetcher:
        crl = await fetcher.fetch_crl(f"{responder.base}/crl.der")
        assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number)
        crls, failures = await fetch_crls_for(fetcher, [revoked, file_ca_leaf, revoked])
    assert len(crls) == 2 and failures == []  # http + file, each URL once
    store = TrustStore(anchors=[responder.ca.root], intermediates=[responder.ca.issuing])
    store.replace_crls(crls)
    with pytest.raises(CertificateRevoked):
        store.validate(revoked, at=NOW)


async def test_crl_failures(responder: Responder, tmp_path: Path) -> None:
    small = FetchLimits(timeout_s=5, max_crl_bytes=1000)
    async with AiohttpRevocationFetcher(limits=small) as fetcher:
        for url in (
            f"{responder.base}/huge",
            f"{responder.base}/missing.crl",
            f"http://127.0.0.1:{_closed_port()}/crl",
            (tmp_path / "nope.crl").as_uri(),
            "ftp://example/crl",
        ):
            with pytest.raises(RevocationUnknown) as info:
                await fetcher.fetch_crl(url)
            assert info.value.reason is Reason.CRL_MISSING, url
        (tmp_path / "junk.crl").write_bytes(b"junk")
        with pytest.raises(RevocationUnknown):
            await fetcher.fetch_crl((tmp_path / "junk.crl").as_uri())
        leaf = responder.leaf(crl_url=f"{responder.base}/missing.crl")
        crls, failures = await fetch_crls_for(fetcher, [leaf])
    assert crls == [] and [f.reason for f in failures] == [Reason.CRL_MISSING]


async def test_borrowed_session_stays_open(responder: Responder) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        fetcher = AiohttpRevocationFetcher(session=session)
        await fetcher.fetch_crl(f"{responder.base}/crl.der")
        await fetcher.close()
        assert not session.closed


async def test_refresh_crls_installs_only_newer_ones(responder: Responder) -> None:
    leaf = responder.leaf()
    old = responder.ca.crl(at=NOW - timedelta(hours=1))
    store = TrustStore(
        anchors=[responder.ca.root], intermediates=[responder.ca.issuing], crls=[old]
    )
    store.validate(leaf, at=NOW)
    responder.ca.revoke(leaf, at=NOW - timedelta(minutes=1))
    async with AiohttpRevocationFetcher() as fetcher:
        failures = await refresh_crls(fetcher, store, [leaf])
        assert failures == [] and store.version == 1
        with pytest.raises(CertificateRevoked):
            store.validate(leaf, at=NOW)
        # the server's CRL is as of NOW each time: not newer, nothing changes
        await refresh_crls(fetcher, store, [leaf])
    assert store.version == 1
