"""``docnode demo`` (what ``make demo`` runs): two agency nodes exchange a document for real.

Steps: a fresh dev CA and two node folders in a temp dir (``docnode init``, ``peers add``),
both nodes started as real ``docnode run`` subprocesses on loopback, a document with a
PDF-like attachment sent from A to B, B accepts (03), assigns (04) and completes (06), and A's
timeline for the document printed. Everything is stopped and removed at the end, also on
failure (``LocalNet.running``); the exit code is 0 when every step was seen to happen.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from docnode import errors
from docnode.axis.network import AxisNet
from docnode.config import load_config
from docnode.localnet import LocalNet, LocalNode

ORGAN_A = "000.00.00.G22"
ORGAN_B = "000.00.00.H41"
STEP_TIMEOUT_S = 60.0

PDF_LIKE = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"% docnode demo attachment\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)


async def _until(what: str, probe: Callable[[], Awaitable[Any]]) -> Any:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise errors.PeerUnavailable(f"demo: timed out waiting for {what}")


async def _exchange(net: LocalNet | AxisNet, attachment: Path, out: TextIO) -> dict[str, Any]:
    from docnode.app import open_node
    from docnode.cli._documents import document_timeline, inbox_rows, print_timeline
    from docnode.metadata import FileInput, edoc_from_metadata

    a, b = net["A"], net["B"]
    async with open_node(load_config(a.config)) as node_a, \
            open_node(load_config(b.config)) as node_b:
        sa, sb = node_a.service, node_b.service
        edoc = edoc_from_metadata(
            {"to": [ORGAN_B], "subject": "Demo: kế hoạch công tác tháng 12",
             "code": "123/DEMO", "content": "Gửi kèm báo cáo (PDF)."},
            [FileInput(attachment.name, attachment.read_bytes(), "application/pdf")],
            now=sa.now(), sender=sa.organization(),
        )
        sent = await sa.submit(edoc, actor="demo")
        print(f"A sent {sent.edxml_document_id} (document {sent.document_id})", file=out)

        async def arrived() -> str | None:
            rows = await inbox_rows(sb)
            match = [r for r in rows if r["edxml_document_id"] == sent.edxml_document_id]
            return match[0]["document_id"] if match else None

        received = await _until("B to receive the document", arrived)
        print(f"B received it as {received}", file=out)
        for code, label in (("03", "accepts"), ("04", "assigns"), ("06", "completes")):
            await sb.change_status(received, code, actor="clerk:demo")
            print(f"B {label} ({code})", file=out)

            async def seen(code: str = code) -> bool:
                t = await document_timeline(sa, sent.document_id)
                return any(e["kind"] == "status_received" and e["evidence"].get("status_code")
                           == code for r in t["recipients"] for e in r["timeline"])

            await _until(f"A to see status {code}", seen)
        timeline = await document_timeline(sa, sent.document_id)
    print("\nA's timeline:", file=out)
    print_timeline(timeline, out=out)
    return timeline


def _print_directory(node: LocalNode, out: TextIO) -> None:
    """What ``docnode peers`` shows on A: the agencies its axis listed, kept in its store."""
    from docnode.cli.node import list_directory

    print(f"\n{node.name}'s directory (docnode peers; synced from the axis):", file=out)
    for entry in list_directory(node.config):
        print(f"  {entry.organ_id}  {entry.name or '-'}  route {entry.route}", file=out)


def run_demo(*, keep: Path | None = None, out: TextIO = sys.stdout,
             via_axis: bool = False) -> int:
    """``via_axis``: the nodes know no direct peer and exchange everything through a
    ``docnode axis serve`` process (``docnode.axis.network``)."""
    base = Path(tempfile.mkdtemp(prefix="docnode-demo-")) if keep is None else keep
    try:
        net: LocalNet | AxisNet
        if via_axis:
            net = AxisNet.create(base, [("A", ORGAN_A), ("B", ORGAN_B)], poll_interval_s=0.5)
            print(f"axis: {net.axis.url} (agencies poll every 0.5 s)", file=out)
        else:
            net = LocalNet.create(base, [("A", ORGAN_A), ("B", ORGAN_B)])
        attachment = base / "bao-cao.pdf"
        attachment.write_bytes(PDF_LIKE)
        with net.running():
            print(f"nodes up: A {ORGAN_A} at {net['A'].direct_url}, "
                  f"B {ORGAN_B} at {net['B'].direct_url}", file=out)
            timeline = asyncio.run(_exchange(net, attachment, out))
            if via_axis:
                _print_directory(net["A"], out)
        recipient = timeline["recipients"][0]
        ok = recipient["state"] == "delivered" and recipient["status_code"] == "06"
        return errors.EXIT_OK if ok else errors.EXIT_INVALID
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
