"""Operability on real nodes (``docnode run`` subprocesses on loopback): ``/metrics``,
``/readyz``, per-peer rate limits (429 + Retry-After), retention (``docnode archive``) and
secrets that never reach a log line."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import urllib.request
from pathlib import Path

import pytest

from docnode import errors
from docnode.config import load_config
from docnode.localnet import LocalNet, LocalNode
from tests.docnode.nodes_kit import (
    B_ORGAN,
    inbox,
    make_net,
    opened,
    states,
    submit,
    timeline,
    wait_for,
)

pytestmark = pytest.mark.slow
N = 5


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback URL
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _post(node: LocalNode, data: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = node.direct.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/edxml/v1/messages", body=data,
                     headers={"Content-Type": "application/xml"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _me(node: LocalNode, token: str) -> int:
    """GET /api/v1/me with a bearer token (or a whole malformed header value)."""
    host, port = node.api.rsplit(":", 1)
    value = token if token.startswith("Basic ") else f"Bearer {token}"
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/api/v1/me", headers={"Authorization": value})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one Prometheus sample (labels matched exactly, in any order)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if found == labels:
            return float(m.group(4))
    return None


async def test_metrics_readyz_archive_and_secrets(tmp_path: Path) -> None:
    net = make_net(tmp_path)
    a, b = net["A"], net["B"]
    with net.running():
        async with opened(a) as a_parts, opened(b) as b_parts:
            ids = await submit(a_parts, n=N, tag="OPS")

            async def delivered() -> bool:
                return set(await states(a_parts, ids)) == {"delivered"}

            await wait_for("deliveries", delivered)
            for row in await inbox(b_parts):
                await b_parts.service.change_status(row["document_id"], "06", actor="clerk:t")

            async def completed_at_a() -> bool:
                for doc_id in ids:
                    t = await timeline(a_parts, doc_id)
                    if t["recipients"][0]["status_code"] != "06":
                        return False
                return True

            await wait_for("statuses back at A", completed_at_a)

            async def b_statuses_delivered() -> bool:
                from sqlalchemy import text

                async with b_parts.store.reader() as tx:
                    rows = (await tx.session.execute(text(
                        "SELECT state FROM deliveries"))).all()
                return len(rows) == N and {r[0] for r in rows} == {"delivered"}

            await wait_for("B's statuses delivered", b_statuses_delivered)

        # /readyz and /metrics on the api listener
        status, body = _get(a.api_url + "/readyz")
        assert status == 200
        assert {c["name"] for c in json.loads(body)["checks"]} >= {"store", "identity", "queue"}
        bad_status, _, _ = _post(b, b"this is not XML")
        assert bad_status == 400
        status, text_a = _get(a.api_url + "/metrics")
        assert status == 200
        assert _sample(text_a, "docnode_documents", direction="out", status="delivered") == N
        assert _sample(text_a, "docnode_delivery_latency_seconds_count") == N
        assert _sample(text_a, "docnode_queue_items", state="dead") == 0
        assert _sample(text_a, "docnode_queue_oldest_age_seconds") == 0
        days = [float(v) for v in re.findall(
            r'^docnode_certificate_days_to_expiry\{role="identity",.*\} (\S+)$', text_a, re.M)]
        assert len(days) == 1 and days[0] > 300
        _, text_b = _get(b.api_url + "/metrics")
        assert _sample(text_b, "docnode_documents", direction="in", status="completed") == N
        assert _sample(text_b, "docnode_documents_received_total", outcome="accepted") == N
        assert _sample(text_b, "docnode_verification_failures_total", code="malformed_xml") == 1

        # a bearer token used against the api: never logged
        token = a.cli_json("tokens", "create", "-c", str(a.config), "--name", "clerk",
                           "--organ-id", a.organ_id)["token"]
        assert _me(a, token) == 200
        assert _me(a, token + "x") == 401
        assert _me(a, "Basic " + token) == 401

    for node in (a, b):
        log_text = (node.directory / "node.log").read_text("utf-8")
        passphrase = (node.directory / "keys" / "passphrase").read_text().strip()
        assert passphrase and passphrase not in log_text
        assert token not in log_text and token[:12] not in log_text

    # retention, nodes stopped: A's delivered+completed documents leave the hot store
    manifests: dict[str, set[str]] = {}
    for node, groups in ((a, N), (b, N)):
        done = node.cli("archive", "-c", str(node.config), "--older-than", "0", "--json")
        result = json.loads(done.stdout)
        assert len(result["documents"]) == groups
        folder = Path(result["directory"])
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        assert len(manifest["groups"]) == groups
        for group in manifest["groups"]:
            for item in [*group["documents"], *group["deliveries"]]:
                for f in item["files"]:
                    data = (folder / group["root"] / f["file"]).read_bytes()
                    assert hashlib.sha256(data).hexdigest() == f["sha256"]
        roles = {f["role"] for g in manifest["groups"] for i in g["documents"] + g["deliveries"]
                 for f in i["files"]}
        assert "packet" in roles
        manifests[node.name] = roles
        assert json.loads(node.cli("audit-log", "verify", "-c", str(node.config),
                                   "--json").stdout)["ok"] is True
        again = json.loads(node.cli("archive", "-c", str(node.config), "--older-than", "0",
                                    "--json").stdout)
        assert again["documents"] == []
    assert "receipt_received" in manifests["A"]  # the receipts B signed for A
    assert "receipt_sent" in manifests["B"]  # the receipts B answered with
    async with opened(a) as a_parts:
        for doc_id in ids:
            with pytest.raises(errors.NotFound):
                await timeline(a_parts, doc_id)


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    net = LocalNet.create(tmp_path, [("B", B_ORGAN)])
    b = net["B"]
    # three requests at once, then one per 100 s: the fourth request must wait
    b.update_config({"limits": {"peer_rate_per_s": 0.01, "peer_burst": 3}})
    assert load_config(b.config).limits.peer_burst == 3
    with net.running():
        answers = [_post(b, b"<not-edxml/>") for _ in range(6)]
        codes = [json.loads(body)["code"] for _, _, body in answers]
        assert codes[:3] == ["not_edxml"] * 3
        assert codes[3:] == ["rate_limited"] * 3
        for status, headers, _ in answers[3:]:
            assert status == 429
            assert int(headers["retry-after"]) >= 1
        # the api listener (health, metrics) is not rate limited by the direct listener
        assert _get(b.api_url + "/readyz")[0] == 200
