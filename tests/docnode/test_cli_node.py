"""``docnode init / peers add / send / status / inbox / accept …`` through the real CLI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from docnode.cli import main
from docnode.config import load_config
from docnode.localnet import LocalNet


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_writes_a_loadable_config_trusting_its_ca(tmp_path: Path, capsys) -> None:
    code, out, _ = _run(capsys, "init", str(tmp_path / "a"), "--organ-id", "000.00.00.G22",
                        "--name", "Văn phòng A", "--json")
    assert code == 0
    info = json.loads(out)
    settings = load_config(info["config"], check_files=True)
    assert settings.node.organ_ids == ("000.00.00.G22",)
    assert settings.node.name == "Văn phòng A"
    assert settings.listen.direct is not None and settings.listen.direct.port > 0
    assert f"127.0.0.1:{settings.listen.direct.port}" == info["direct"]
    assert settings.trust.anchors[0].read_bytes() == (tmp_path / "a/ca/root-ca.pem").read_bytes()
    # The key's passphrase sits in a file only its owner can read; the config names the file.
    assert settings.identity.passphrase_file is not None
    mode = stat.S_IMODE(os.stat(settings.identity.passphrase_file).st_mode)
    assert mode == 0o600
    assert "passphrase =" not in Path(info["config"]).read_text()


def test_init_with_shared_ca_and_explicit_listeners(tmp_path: Path, capsys) -> None:
    _run(capsys, "init", str(tmp_path / "a"), "--organ-id", "000.00.00.G22")
    code, out, _ = _run(capsys, "init", str(tmp_path / "b"), "--organ-id", "000.00.00.H41",
                        "--ca", str(tmp_path / "a/ca"), "--listen-direct", "127.0.0.1:18701",
                        "--listen-api", "127.0.0.1:18702", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["ca"] == str((tmp_path / "a/ca").resolve())
    assert (info["direct"], info["api"]) == ("127.0.0.1:18701", "127.0.0.1:18702")
    assert not (tmp_path / "b/ca").exists()


def test_init_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    _run(capsys, "init", str(tmp_path), "--organ-id", "000.00.00.G22")
    code, _, err = _run(capsys, "init", str(tmp_path), "--organ-id", "000.00.00.G22")
    assert code == 2 and "usage_error" in err


def test_init_refuses_a_bad_organ_id(tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, "init", str(tmp_path), "--organ-id", "not an organ id")
    assert code == 2 and "dev_ca_error" in err


def test_peers_add_routes_and_replaces(tmp_path: Path, capsys) -> None:
    _run(capsys, "init", str(tmp_path), "--organ-id", "000.00.00.G22")
    config = str(tmp_path / "docnode.toml")
    assert _run(capsys, "peers", "add", "-c", config, "--organ-id", "000.00.00.H41",
                "--url", "http://127.0.0.1:9")[0] == 0
    assert _run(capsys, "peers", "add", "-c", config, "--organ-id", "000.00.00.H41",
                "--url", "http://127.0.0.1:10", "--json")[0] == 0
    peers = load_config(config).peers
    assert [(p.organ_ids, p.url) for p in peers] == [(("000.00.00.H41",), "http://127.0.0.1:10")]


def test_peers_add_bad_url_is_a_config_error(tmp_path: Path, capsys) -> None:
    _run(capsys, "init", str(tmp_path), "--organ-id", "000.00.00.G22")
    code, _, err = _run(capsys, "peers", "add", "-c", str(tmp_path / "docnode.toml"),
                        "--organ-id", "000.00.00.H41", "--url", "ftp://x")
    assert code == 2 and "config_invalid" in err


def test_send_without_a_running_node_queues_and_prints_id_last(tmp_path: Path, capsys) -> None:
    net = LocalNet.create(tmp_path, [("A", "000.00.00.G22"), ("B", "000.00.00.H41")])
    a = net["A"]
    attachment = tmp_path / "report.pdf"
    attachment.write_bytes(b"%PDF-1.4 test\n%%EOF\n")
    code, out, _ = _run(capsys, "send", "-c", str(a.config), "--to", "000.00.00.H41",
                        "--subject", "Thử nghiệm", str(attachment))
    assert code == 0
    document_id = out.strip().splitlines()[-1]
    code, out, _ = _run(capsys, "status", "-c", str(a.config), document_id, "--json")
    assert code == 0
    status = json.loads(out)
    assert status["document_id"] == document_id
    assert [e["kind"] for e in status["events"]] == ["submitted"]
    (recipient,) = status["recipients"]
    assert recipient["organ_id"] == "000.00.00.H41" and recipient["state"] == "queued"
    assert [e["kind"] for e in recipient["timeline"]] == ["queued"]
    # The human table shows the same document.
    code, out, _ = _run(capsys, "status", "-c", str(a.config), document_id)
    assert code == 0 and document_id in out


def test_send_to_an_unknown_recipient_queues_nothing(tmp_path: Path, capsys) -> None:
    _run(capsys, "init", str(tmp_path), "--organ-id", "000.00.00.G22")
    config = str(tmp_path / "docnode.toml")
    code, _, err = _run(capsys, "send", "-c", config, "--to", "000.00.00.Z99", "--subject", "x")
    assert code == 1 and "unknown_recipient" in err
    code, out, _ = _run(capsys, "inbox", "-c", config, "--json")
    assert code == 0 and json.loads(out) == []


def test_refuse_needs_a_reason_and_unknown_document_is_not_found(tmp_path: Path, capsys) -> None:
    _run(capsys, "init", str(tmp_path), "--organ-id", "000.00.00.G22")
    config = str(tmp_path / "docnode.toml")
    code, _, err = _run(capsys, "refuse", "-c", config, "nope")
    assert code == 1 and "validation_failed" in err
    code, _, err = _run(capsys, "accept", "-c", config, "nope")
    assert code == 1 and "not_found" in err
