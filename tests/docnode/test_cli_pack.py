"""``docnode pack`` / ``pack-status`` / ``unpack``: the offline packet tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docnode.cli import main
from docnode.cli.pack import safe_file_name
from envelopes.packet import open_packet
from tests.conftest import PKI_PASSPHRASE, Pki

META = """
from = {organ_id = "000.00.00.G22", organ_name = "Văn phòng Bộ Nội vụ"}
to = ["000.00.00.H41"]
code = "12/BNV-VP"
subject = "Về việc thử nghiệm đóng gói"
promulgation = {place = "Hà Nội", date = "2026-11-30"}
"""


@pytest.fixture
def signer(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    files = pki.write("valid", tmp_path / "id")
    monkeypatch.setenv("DOCNODE_KEY_PASSPHRASE", PKI_PASSPHRASE.decode())
    return ["--key", str(files.key), "--cert", str(files.cert), "--chain", str(files.chain)]


def test_pack_then_unpack_round_trip(signer: list[str], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    meta = tmp_path / "meta.toml"
    meta.write_text(META, encoding="utf-8")
    pdf = tmp_path / "công văn.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    out = tmp_path / "out.edxml"
    assert main(["pack", str(meta), str(pdf), *signer, "-o", str(out)]) == 0
    opened = open_packet(out.read_bytes())
    assert opened.packet.document_id == "000.00.00.G22,2026/11/30,12/BNV-VP"  # type: ignore[union-attr]
    capsys.readouterr()

    extract = tmp_path / "extract"
    assert main(["unpack", str(out), "-d", str(extract), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["signature_checked"] is False
    assert result["header"]["subject"] == "Về việc thử nghiệm đóng gói"
    assert (extract / "công văn.pdf").read_bytes() == pdf.read_bytes()

    assert main(["unpack", str(out)]) == 0
    text = capsys.readouterr().out
    assert "signature NOT checked" in text and "công văn.pdf" in text


def test_pack_reports_every_bad_field(signer: list[str], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"to": [], "subject": ""}), encoding="utf-8")
    code = main(["pack", str(meta), *signer, "-o", str(tmp_path / "x.edxml")])
    assert code == 1
    err = capsys.readouterr().err
    assert "[validation_failed]" in err and "to:" in err and "subject:" in err
    assert not (tmp_path / "x.edxml").exists()


def test_pack_without_passphrase_is_a_usage_error(pki: Pki, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCNODE_KEY_PASSPHRASE", raising=False)
    files = pki.write("valid", tmp_path / "id")
    meta = tmp_path / "meta.toml"
    meta.write_text(META, encoding="utf-8")
    code = main(["pack", str(meta), "--key", str(files.key), "--cert", str(files.cert),
                 "-o", str(tmp_path / "x.edxml")])
    assert code == 2


def test_pack_status(signer: list[str], tmp_path: Path) -> None:
    meta = tmp_path / "status.toml"
    meta.write_text(
        'from = {organ_id = "000.00.00.G22"}\nstatus_code = "03"\n'
        'response_for = {organ_id = "000.00.00.H41", code = "7/UBND", '
        'document_id = "000.00.00.H41,2026/11/29,7/UBND"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "status.edxml"
    assert main(["pack-status", str(meta), *signer, "-o", str(out)]) == 0
    status = open_packet(out.read_bytes()).packet
    assert status.status_code.value == "03"  # type: ignore[union-attr]


def test_unpack_missing_file_exits_2(tmp_path: Path) -> None:
    assert main(["unpack", str(tmp_path / "nope.edxml")]) == 2


def test_unpack_vnpt_sample_needs_lenient(vnpt_samples: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    sample = vnpt_samples / "edoc_new.edxml"  # starts with stray bytes "1212"
    assert main(["unpack", str(sample)]) == 1
    assert "[malformed_xml]" in capsys.readouterr().err
    assert main(["unpack", str(sample), "--lenient", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["warnings"]
    assert result["header"]["kind"] == "edoc"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        (".hidden", "hidden"),
        ("", "attachment"),
        ("a/b/c.pdf", "c.pdf"),
    ],
)
def test_attachment_names_cannot_escape_the_folder(name: str, expected: str) -> None:
    assert safe_file_name(name, set()) == expected


def test_duplicate_attachment_names_get_suffixes() -> None:
    taken: set[str] = set()
    assert [safe_file_name("a.pdf", taken) for _ in range(3)] == ["a.pdf", "a-2.pdf", "a-3.pdf"]
