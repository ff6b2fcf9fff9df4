"""``docnode keys …`` end to end through ``docnode.cli.main`` (exit codes, files, JSON)."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from docnode.cli import main
from keystore.identity import load_identity, read_passphrase
from keystore.trust import TrustStore, fingerprint


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> Any:
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    return json.loads(out)


@pytest.fixture
def ca_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, _, err = run(capsys, "keys", "init-ca", tmp_path / "ca")
    assert code == 0
    assert "DEVELOPMENT CA" in err  # the CLI says it is not for production
    return tmp_path / "ca"


def test_init_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = run_json(
        capsys, "keys", "init-ca", tmp_path / "ca", "--key-type", "rsa2048",
        "--ocsp-url", "http://127.0.0.1:9/ocsp",
    )  # fmt: skip
    root = x509.load_pem_x509_certificate(Path(info["root"]).read_bytes())
    assert root.public_key().key_size == 2048  # type: ignore[union-attr]
    assert info["ocsp_url"] == "http://127.0.0.1:9/ocsp"
    code, _, err = run(capsys, "keys", "init-ca", tmp_path / "ca")  # already there
    assert code == 2 and "dev_ca_error" in err


def test_issue_generates_a_passphrase_file(
    ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "keys", "issue", "--ca", ca_dir, "--organ-id", "000.00.00.G22",
        "--name", "Văn phòng Bộ", "-o", tmp_path / "id", "--json",
    )  # fmt: skip
    assert code == 0
    info = json.loads(out)
    secret_file = Path(info["passphrase_file"])
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert str(secret_file) in err  # it says so ...
    secret = read_passphrase(file=secret_file)
    assert secret.decode() not in out + err  # ... without printing the passphrase
    ident = load_identity(
        key=Path(info["key"]), cert=Path(info["cert"]), chain=[Path(info["chain"])],
        passphrase=secret,
    )  # fmt: skip
    assert ident.organ_ids == ("000.00.00.G22",)
    store = TrustStore.from_files([ca_dir / "root-ca.pem"], crls=[ca_dir / "crl.pem"])
    store.validate(ident.certificate, ident.chain, at=ident.certificate.not_valid_before_utc
                   + timedelta(minutes=6))  # fmt: skip


def test_issue_with_passphrase_from_env_and_file(
    ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("TEST_KEY_PW", "from-the-environment")
    info = run_json(
        capsys, "keys", "issue", "--ca", ca_dir, "--organ-id", "H41", "--name", "Sở",
        "-o", tmp_path / "a", "--key-type", "rsa3072", "--passphrase-env", "TEST_KEY_PW",
    )  # fmt: skip
    assert info["passphrase_file"] is None and not (tmp_path / "a" / "passphrase").exists()
    load_identity(pkcs12=Path(info["pkcs12"]), passphrase=b"from-the-environment")
    pw = tmp_path / "pw"
    pw.write_text("from-a-file\n")
    info = run_json(
        capsys, "keys", "issue", "--ca", ca_dir, "--organ-id", "H41", "--name", "Sở",
        "-o", tmp_path / "b", "--passphrase-file", pw, "--days", "10",
    )  # fmt: skip
    ident = load_identity(pkcs12=Path(info["pkcs12"]), passphrase=b"from-a-file")
    life = ident.certificate.not_valid_after_utc - ident.certificate.not_valid_before_utc
    assert life == timedelta(days=10, minutes=5)


def test_issue_errors(ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "keys", "issue", "--ca", ca_dir, "--organ-id", "bad id!", "--name", "x",
        "-o", tmp_path / "x",
    )  # fmt: skip
    assert code == 2 and "dev_ca_error" in err
    code, _, err = run(
        capsys, "keys", "issue", "--ca", tmp_path / "no-ca", "--organ-id", "G22", "--name", "x",
        "-o", tmp_path / "x",
    )  # fmt: skip
    assert code == 2
    code, _, err = run(
        capsys, "keys", "issue", "--ca", ca_dir, "--organ-id", "G22", "--name", "x",
        "-o", tmp_path / "x", "--passphrase-env", "SURELY_NOT_SET_ANYWHERE",
    )  # fmt: skip
    assert code == 2 and "identity_invalid" in err
    with pytest.raises(SystemExit) as usage:  # argparse: the passphrase is never an option
        main(["keys", "issue", "--ca", str(ca_dir), "--organ-id", "G22", "--name", "x",
              "-o", str(tmp_path / "x"), "--passphrase", "secret"])  # fmt: skip
    assert usage.value.code == 2


def test_issue_tls(ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = run_json(
        capsys, "keys", "issue-tls", "--ca", ca_dir, "--name", "node1", "--dns", "localhost",
        "--ip", "127.0.0.1", "--usage", "both", "-o", tmp_path / "tls",
    )  # fmt: skip
    assert Path(info["key"]).name == "tls.key.pem"
    cert = x509.load_pem_x509_certificate(Path(info["cert"]).read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert len(list(eku)) == 2
    code, _, err = run(
        capsys, "keys", "issue-tls", "--ca", ca_dir, "--name", "n", "-o", tmp_path / "t2"
    )  # a server certificate without any name
    assert code == 2 and "dev_ca_error" in err


def test_revoke_and_crl(ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = run_json(
        capsys, "keys", "issue", "--ca", ca_dir, "--organ-id", "G22", "--name", "x",
        "-o", tmp_path / "id",
    )  # fmt: skip
    revoked = run_json(capsys, "keys", "revoke", "--ca", ca_dir, info["cert"])
    assert revoked["serial"] == info["serial"]
    published = x509.load_pem_x509_crl((ca_dir / "crl.pem").read_bytes())
    assert published.get_revoked_certificate_by_serial_number(int(info["serial"], 16))
    code, _, _ = run(capsys, "keys", "crl", "--ca", ca_dir, "-o", tmp_path / "c.der", "--der")
    assert code == 0
    crl = x509.load_der_x509_crl((tmp_path / "c.der").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(info["serial"], 16))
    code, _, _ = run(capsys, "keys", "crl", "--ca", ca_dir, "--root", "-o", tmp_path / "r.pem")
    assert code == 0
    root_crl = x509.load_pem_x509_crl((tmp_path / "r.pem").read_bytes())
    assert len(root_crl) == 0
    code, _, err = run(capsys, "keys", "revoke", "--ca", ca_dir, tmp_path / "missing.pem")
    assert code == 2 and "io_error" in err
    code, _, _ = run(capsys, "keys", "crl", "--ca", ca_dir, "-o", tmp_path / "no" / "dir.pem")
    assert code == 2


def test_show_pem_and_p12(pki: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = pki.write("valid", tmp_path)
    shown = run_json(capsys, "keys", "show", files.cert)
    assert shown["organ_ids"] == ["000.00.00.G22"]
    assert shown["extended_key_usage"] == ["1.3.6.1.5.5.7.3.36"]
    assert shown["key"] == "EC secp256r1" and shown["chain"] == []
    (tmp_path / "pw").write_bytes(b"test-passphrase\n")
    p12 = run_json(capsys, "keys", "show", files.pkcs12, "--passphrase-file", tmp_path / "pw")
    assert p12["fingerprint_sha256"] == shown["fingerprint_sha256"]
    assert [c["subject"] for c in p12["chain"]] == [pki.issuing.subject.rfc4514_string()]
    code, out, _ = run(capsys, "keys", "show", files.cert)
    assert code == 0 and "000.00.00.G22" in out
    (tmp_path / "bad").write_bytes(b"wrong\n")
    code, _, err = run(capsys, "keys", "show", files.pkcs12, "--passphrase-file", tmp_path / "bad")
    assert code == 2 and "identity_invalid" in err
    (tmp_path / "junk.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nxx\n")
    code, _, _ = run(capsys, "keys", "show", tmp_path / "junk.pem")
    assert code == 2


def test_expiring(pki: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    valid = pki.write("valid", tmp_path / "v").cert
    expired = pki.write("expired", tmp_path / "e").cert
    trust = pki.write_trust(tmp_path / "t").anchor
    code, out, _ = run(
        capsys, "keys", "expiring", "--days", "30", "--cert", valid, "--trust-anchor", trust
    )
    assert code == 0 and "no certificate" in out
    code, out, _ = run(
        capsys, "keys", "expiring", "--days", "30", "--cert", valid, "--cert", expired, "--json"
    )
    assert code == 1  # a negative result: something expires
    report = json.loads(out)
    assert report["checked"] == 2
    assert [r["expired"] for r in report["expiring"]] == [True]
    code, _, _ = run(capsys, "keys", "expiring", "--days", "400", "--cert", valid,
                     "--at", pki.at.isoformat())  # fmt: skip
    assert code == 1
    code, _, _ = run(capsys, "keys", "expiring", "-c", tmp_path / "missing.toml")
    assert code == 2
    code, _, _ = run(capsys, "keys", "expiring", "--cert", valid, "--at", "yesterday")
    assert code == 2


def test_expiring_takes_identity_and_trust_from_the_config(
    pki: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = pki.write("valid", tmp_path / "keys")
    trust = pki.write_trust(tmp_path / "trust")
    config = tmp_path / "docnode.toml"
    config.write_text(
        '[node]\norgan_ids = ["000.00.00.G22"]\n'
        f'[identity]\nkey = "{files.key}"\ncert = "{files.cert}"\nchain = ["{files.chain}"]\n'
        'passphrase_env = "DOCNODE_KEY_PASSPHRASE"\n'
        f'[trust]\nanchors = ["{trust.anchor}"]\n'
    )
    code, out, _ = run(capsys, "keys", "expiring", "-c", config, "--days", "400", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["checked"] == 3  # leaf, issuing CA (chain), root (anchor)
    assert [r["fingerprint_sha256"] for r in report["expiring"]] == [
        fingerprint(pki.valid.certificate)
    ]
