"""Direct transport over real loopback HTTP: body limits while streaming, gzip caps,
problem+json, and the client's classification of every kind of answer."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from docnode.errors import PeerRejected, PeerUnavailable
from docnode.transport.direct_client import (
    Delivery,
    DirectClient,
    ReceiptEvidence,
    client_ssl_context,
    parse_retry_after,
)
from docnode.transport.direct_server import (
    MESSAGES_PATH,
    RUNNER_OPTIONS,
    BodyLimits,
    PeerInfo,
    ReceiveOutcome,
    direct_app,
    server_ssl_context,
)
from docnode.transport.problem import PROBLEM_CONTENT_TYPE, problem_for
from envelopes.errors import SchemaInvalid

LIMITS = BodyLimits(max_body_bytes=64 * 1024, max_decoded_bytes=128 * 1024)


class EchoReceiver:
    """Stands in front of the service for HTTP-level tests: answers with the bytes' length."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    async def receive(self, data: bytes, *, peer: PeerInfo) -> ReceiveOutcome:
        self.seen.append(data)
        if data.startswith(b"<bad"):
            raise SchemaInvalid("not our schema", element="edXMLEnvelope", line=1)
        return ReceiveOutcome(receipt=b"<receipt n='%d'/>" % len(data), duplicate=b"dup" in data)


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, **RUNNER_OPTIONS)  # type: ignore[arg-type]
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def server() -> AsyncIterator[tuple[EchoReceiver, str]]:
    receiver = EchoReceiver()
    runner, url = await _serve(direct_app(receiver, limits=LIMITS))
    yield receiver, url
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes | AsyncIterator[bytes], **headers: str
) -> tuple[int, str, bytes]:
    hdrs = {"Content-Type": "application/xml", **headers}
    async with session.post(url + MESSAGES_PATH, data=body, headers=hdrs) as resp:
        return resp.status, resp.content_type, await resp.read()


async def test_first_time_202_duplicate_200(server, session) -> None:
    receiver, url = server
    status, ctype, body = await _post(session, url, b"<edXML/>")
    assert (status, ctype, body) == (202, "application/xml", b"<receipt n='8'/>")
    status, _, _ = await _post(session, url, b"<edXML>dup</edXML>")
    assert status == 200
    assert receiver.seen == [b"<edXML/>", b"<edXML>dup</edXML>"]


async def test_declared_length_over_limit_is_413_before_reading(server, session) -> None:
    receiver, url = server
    status, ctype, body = await _post(session, url, b"x" * (LIMITS.max_body_bytes + 1))
    assert status == 413 and ctype == PROBLEM_CONTENT_TYPE
    assert json.loads(body)["code"] == "too_large"
    assert receiver.seen == []


async def test_streamed_body_over_limit_is_refused_while_streaming(server, session) -> None:
    receiver, url = server
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        chunk = b"y" * 16384
        # Far more than the limit; the server must answer long before we are done.
        for _ in range(4096):
            sent += len(chunk)
            yield chunk

    try:
        status, _, body = await _post(session, url, endless())
    except aiohttp.ClientError:
        # The server may close the connection while we are still writing: also a refusal.
        status, body = 413, json.dumps({"code": "too_large"}).encode()
    assert status == 413
    assert json.loads(body)["code"] == "too_large"
    assert receiver.seen == []
    assert sent < 4096 * 16384


async def test_gzip_body_is_decoded(server, session) -> None:
    receiver, url = server
    packet = b"<edXML>" + b"a" * 1000 + b"</edXML>"
    status, _, _ = await _post(session, url, gzip.compress(packet), **{"Content-Encoding": "gzip"})
    assert status == 202
    assert receiver.seen == [packet]


async def test_gzip_bomb_stops_at_decoded_cap(server, session) -> None:
    receiver, url = server
    bomb = gzip.compress(b"\0" * (LIMITS.max_decoded_bytes * 8))
    assert len(bomb) < LIMITS.max_body_bytes
    status, _, body = await _post(session, url, bomb, **{"Content-Encoding": "gzip"})
    assert status == 413 and json.loads(body)["code"] == "too_large"
    assert receiver.seen == []


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Encoding": "br"}, b"<edXML/>"),
        ({"Content-Encoding": "gzip"}, b"not gzip at all"),
        ({"Content-Encoding": "gzip"}, gzip.compress(b"<edXML/>" * 100)[:-12]),
        ({"Content-Type": "application/json"}, b"{}"),
    ],
    ids=["unknown-encoding", "corrupt-gzip", "truncated-gzip", "wrong-media-type"],
)
async def test_unsupported_bodies_are_415(server, session, headers, body) -> None:
    receiver, url = server
    status, ctype, answer = await _post(session, url, body, **headers)
    assert status == 415 and ctype == PROBLEM_CONTENT_TYPE
    assert json.loads(answer)["code"] == "unsupported_media_type"
    assert receiver.seen == []


async def test_receiver_error_becomes_problem_json(server, session) -> None:
    _, url = server
    status, ctype, body = await _post(session, url, b"<bad/>")
    problem = json.loads(body)
    assert status == 422 and ctype == PROBLEM_CONTENT_TYPE
    assert problem["code"] == "schema_invalid"
    assert problem["type"].endswith("schema_invalid")
    assert problem["status"] == 422 and problem["element"] == "edXMLEnvelope"
    assert problem["title"]


def test_unknown_exception_hides_its_message() -> None:
    problem = problem_for(RuntimeError("/secret/path/key.pem"))
    assert problem.code == "internal_error" and problem.status == 500
    assert "secret" not in json.dumps(problem.to_json())


def test_certificate_problem_carries_reason() -> None:
    from keystore.errors import CertificateUntrusted, Reason

    problem = problem_for(CertificateUntrusted("expired leaf", reason=Reason.EXPIRED))
    assert problem.to_json()["reason"] == "expired"
    assert problem.to_json()["code"] == "certificate_untrusted"


# --- client classification against small real stub peers ----------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AcceptAnyReceipt:
    """Receipt checks are covered with real receipts in test_two_nodes; here the peer is a
    stub that cannot sign, so the client's classification is what is under test."""

    async def check(
        self, receipt: bytes, *, document_id: str, packet_sha256: str, recipient: str
    ) -> ReceiptEvidence:
        if receipt != b"<ok/>":
            raise SchemaInvalid("not a receipt")
        return ReceiptEvidence(receipt_sha256="00" * 32, signer_organ_id=recipient)


async def _stub(handler: Handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post(MESSAGES_PATH, handler)
    return await _serve(app)


def _problem(status: int, code: str, **headers: str) -> web.Response:
    return web.json_response(
        {"type": f"urn:docnode:problem:{code}", "title": "t", "status": status, "code": code},
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


async def _deliver(handler: Handler) -> Delivery:
    runner, url = await _stub(handler)
    try:
        async with aiohttp.ClientSession() as session:
            client = DirectClient(session, receipts=AcceptAnyReceipt(), timeout_s=2.0)
            return await client.deliver(url, b"<edXML/>", document_id="D1", recipient="B")
    finally:
        await runner.cleanup()


async def test_client_accepts_verified_receipt() -> None:
    async def ok(request: web.Request) -> web.Response:
        assert await request.read() == b"<edXML/>"
        return web.Response(status=202, body=b"<ok/>", content_type="application/xml")

    delivery = await _deliver(ok)
    assert delivery.duplicate is False


async def test_client_unverifiable_receipt_is_retryable() -> None:
    async def forged(request: web.Request) -> web.Response:
        return web.Response(status=202, body=b"<forged/>", content_type="application/xml")

    with pytest.raises(PeerUnavailable) as info:
        await _deliver(forged)
    assert info.value.detail["peer_code"] == "receipt_invalid"


@pytest.mark.parametrize("status", [400, 403, 409, 413, 422])
async def test_client_4xx_is_permanent(status: int) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return _problem(status, "schema_invalid")

    with pytest.raises(PeerRejected) as info:
        await _deliver(refuse)
    assert info.value.code == "peer_rejected"
    assert info.value.detail == {"http_status": status, "peer_code": "schema_invalid"}


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
async def test_client_5xx_408_429_are_retryable_with_retry_after(status: int) -> None:
    async def busy(request: web.Request) -> web.Response:
        return _problem(status, "rate_limited", **{"Retry-After": "7"})

    with pytest.raises(PeerUnavailable) as info:
        await _deliver(busy)
    assert info.value.retry_after == 7.0
    assert info.value.detail["http_status"] == status


async def test_client_connection_refused_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        client = DirectClient(session, receipts=AcceptAnyReceipt(), timeout_s=2.0)
        with pytest.raises(PeerUnavailable) as info:
            await client.deliver(f"http://127.0.0.1:{port}", b"<x/>", document_id="D",
                                 recipient="B")
    assert info.value.detail["peer_code"] == "connection_error"


async def test_client_timeout_is_retryable() -> None:
    import asyncio

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(status=202, body=b"<ok/>")

    runner, url = await _stub(slow)
    try:
        async with aiohttp.ClientSession() as session:
            client = DirectClient(session, receipts=AcceptAnyReceipt(), timeout_s=0.3)
            with pytest.raises(PeerUnavailable) as info:
                await client.deliver(url, b"<x/>", document_id="D", recipient="B")
    finally:
        await runner.cleanup()
    assert info.value.detail["peer_code"] == "timeout"


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("12", now=now) == 12.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("999999", now=now) == 3600.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


# --- TLS and client-certificate authentication on the listener ------------------------


def _tls_files(pki, tmp_path, name: str, *, server: bool, client: bool):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    from keystore.ca import pem

    issued = pki.ca.issue_tls(name, valid_from=pki.at - timedelta(days=1),
                              ip_addresses=["127.0.0.1"] if server else (),
                              server=server, client=client)
    cert = tmp_path / f"{name}.pem"
    key = tmp_path / f"{name}.key.pem"
    cert.write_bytes(pem(issued.certificate) + b"".join(pem(c) for c in issued.chain))
    key.write_bytes(issued.key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    return cert, key


async def _tls_server(pki, tmp_path, *, require_client: bool):  # type: ignore[no-untyped-def]
    from keystore.ca import pem

    cert, key = _tls_files(pki, tmp_path, "server", server=True, client=False)
    ca = tmp_path / "root.pem"
    ca.write_bytes(pem(pki.root))
    ctx = server_ssl_context(cert=cert, key=key, client_cas=(ca,) if require_client else (),
                             require_client_cert=require_client)
    receiver = EchoReceiver()
    runner = web.AppRunner(direct_app(receiver, limits=LIMITS), **RUNNER_OPTIONS)  # type: ignore[arg-type]
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    return runner, f"https://127.0.0.1:{runner.addresses[0][1]}", ca, receiver


async def test_tls_listener_with_dev_ca_certificates(pki, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner, url, ca, receiver = await _tls_server(pki, tmp_path, require_client=False)
    try:
        async with aiohttp.ClientSession() as session:
            client = DirectClient(session, receipts=AcceptAnyReceipt(),
                                  ssl_context=client_ssl_context(cafiles=(ca,)))
            # EchoReceiver answers "<receipt …>", which AcceptAnyReceipt refuses: the TLS
            # exchange itself worked when the refusal is about the receipt.
            with pytest.raises(PeerUnavailable) as info:
                await client.deliver(url, b"<edXML/>", document_id="D", recipient="B")
            assert info.value.detail["peer_code"] == "receipt_invalid"
            # Without our CA the server certificate is not trusted: a connection error.
            plain = DirectClient(session, receipts=AcceptAnyReceipt())
            with pytest.raises(PeerUnavailable) as info:
                await plain.deliver(url, b"<edXML/>", document_id="D", recipient="B")
            assert info.value.detail["peer_code"] == "connection_error"
    finally:
        await runner.cleanup()
    assert receiver.seen == [b"<edXML/>"]


async def test_client_certificate_required(pki, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner, url, ca, receiver = await _tls_server(pki, tmp_path, require_client=True)
    cert, key = _tls_files(pki, tmp_path, "client", server=False, client=True)
    try:
        async with aiohttp.ClientSession() as session:
            anonymous = DirectClient(session, receipts=AcceptAnyReceipt(),
                                     ssl_context=client_ssl_context(cafiles=(ca,)))
            with pytest.raises(PeerUnavailable) as info:
                await anonymous.deliver(url, b"<a/>", document_id="D", recipient="B")
            assert info.value.detail["peer_code"] == "connection_error"
            authenticated = DirectClient(session, receipts=AcceptAnyReceipt(),
                                         ssl_context=client_ssl_context(
                                             cafiles=(ca,), client_cert=cert, client_key=key))
            with pytest.raises(PeerUnavailable) as info:
                await authenticated.deliver(url, b"<b/>", document_id="D", recipient="B")
            assert info.value.detail["peer_code"] == "receipt_invalid"
    finally:
        await runner.cleanup()
    assert receiver.seen == [b"<b/>"]
