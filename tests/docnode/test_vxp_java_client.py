"""Cross-check with an independent implementation (STYLE §9): a Java client built the way the
VNPT SDK 2.0.1 builds its requests (real ``java.util.HashMap`` order, a timestamp fixed per
service object, stale keys kept across calls, ``Integer.toHexString`` hash-file, javax.crypto
HMAC, ``Expect: 100-continue`` on the ``{}`` bodies) runs the whole exchange against our axis,
once with one long-lived client per system and once with a fresh client per call. Every
answer must be a success the SDK can parse, and the key order Java produced must be the one
``vxp_protocol.sdk_key_order`` predicts. It needs only a JDK; the vendor's real jar is run by
``test_vnpt_sdk_acceptance`` (``contrib/sdk-acceptance``), and the header comment of
``java/SdkLikeClient.java`` lists where the real SDK's HTTP differs."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from docnode.transport import vxp_protocol as vxp
from envelopes.model import StatusCode
from envelopes.read import read_packet
from tests.conftest import Pki
from tests.docnode.axis_kit import (
    A_ORGAN,
    B_ORGAN,
    SECRETS,
    edoc,
    running_axis,
    signed_status,
)

SOURCE = Path(__file__).resolve().parent / "java" / "SdkLikeClient.java"


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    javac, java = shutil.which("javac"), shutil.which("java")
    if javac is None or java is None:
        pytest.skip("no JDK (javac/java) on PATH")
    out = tmp_path_factory.mktemp("java")
    subprocess.run([javac, "-d", str(out), str(SOURCE)], check=True, capture_output=True,
                   timeout=120)
    return out


@pytest.mark.parametrize("mode", ["long", "fresh"])
async def test_sdk_like_java_client_against_our_axis(
    pki: Pki, tmp_path: Path, java_classes: Path, mode: str
) -> None:
    from envelopes.packet import pack_edoc

    doc = edoc(pki)
    issued = pki.valid
    packet = pack_edoc(doc, key=issued.key, certificate=issued.certificate, chain=issued.chain)
    status = signed_status(pki, doc, StatusCode.ARRIVED)
    (tmp_path / "edoc.edxml").write_bytes(packet)
    (tmp_path / "status.edxml").write_bytes(status)
    async with running_axis(pki, tmp_path / "axis") as axis:
        argv = ["java", "-cp", str(java_classes), "SdkLikeClient", axis.url,
                "sys.a", SECRETS["sys.a"].decode(), A_ORGAN,
                "sys.b", SECRETS["sys.b"].decode(), B_ORGAN,
                str(tmp_path / "edoc.edxml"), str(tmp_path / "status.edxml"), mode]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    lines = [line.split("\t", 2) for line in out.decode().splitlines()]
    ops = [op for op, _, _ in lines]
    assert ops == ["sendEdoc", "getReceivedEdocList", "getEdoc", "updateStatus", "sendEdoc",
                   "getReceivedEdocList", "getEdoc", "updateStatus", "getSentEdocList",
                   "getAgenciesList"]
    answers = [json.loads(text) for _, _, text in lines]
    for answer in answers:
        assert answer["status"] == "OK" and answer["ErrorCode"] == "0", answer
        assert "null" not in json.dumps(answer)
    assert answers[0]["DocId"] and answers[4]["DocId"]
    assert base64.b64decode(answers[2]["data"]) == packet
    assert base64.b64decode(answers[6]["data"]) == status
    assert read_packet(base64.b64decode(answers[2]["data"])).packet == read_packet(packet).packet
    assert [x["code"] for x in answers[9]["data"]] == sorted([A_ORGAN, B_ORGAN])
    # Java's HashMap order is exactly what our client emulates (spec §5)
    assert lines[0][1] == (
        "systemid;servicetype;messagetype;hash-file;from;to;timestamp;Content-Type")
    for _op, keys, _ in lines:
        listed = keys.split(";")
        assert vxp.sdk_key_order(listed) == listed
    if mode == "long":
        # the long-lived object re-sent stale keys: sendEdoc of the status carried docid etc.
        assert "docid" in lines[4][1].split(";")
