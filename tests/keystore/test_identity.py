"""Loading the node's signing identity; clear errors that never carry the passphrase."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from keystore.errors import IdentityInvalid, Reason
from keystore.identity import SigningIdentity, load_identity, read_passphrase

PW = b"s3cret-Passphrase-42"


def identity_reason(**kw: Any) -> Reason | None:
    with pytest.raises(IdentityInvalid) as info:
        load_identity(**kw)
    assert info.value.code == "identity_invalid"
    assert PW.decode() not in str(info.value) and PW.decode() not in repr(info.value)
    assert info.value.__cause__ is None  # nothing from the decrypt step leaks through
    return info.value.reason


def test_pkcs12_with_passphrase(pki: Any, tmp_path: Path) -> None:
    files = pki.write("valid", tmp_path, passphrase=PW)
    ident = load_identity(pkcs12=files.pkcs12, passphrase=PW, at=pki.at)
    assert ident.certificate == pki.valid.certificate
    assert ident.chain == (pki.issuing,)
    assert ident.organ_ids == ("000.00.00.G22",)
    assert ident.key.public_key() == pki.valid.certificate.public_key()


def test_pkcs12_wrong_passphrase(pki: Any, tmp_path: Path) -> None:
    files = pki.write("valid", tmp_path, passphrase=PW)
    assert identity_reason(pkcs12=files.pkcs12, passphrase=b"wrong") is Reason.WRONG_PASSPHRASE


def test_encrypted_pem(pki: Any, tmp_path: Path) -> None:
    files = pki.write("valid_rsa", tmp_path, passphrase=PW)
    ident = load_identity(key=files.key, cert=files.cert, chain=[files.chain], passphrase=PW)
    assert ident.certificate == pki.valid_rsa.certificate
    assert ident.chain == (pki.issuing,)


def test_pem_wrong_passphrase(pki: Any, tmp_path: Path) -> None:
    files = pki.write("valid", tmp_path, passphrase=PW)
    reason = identity_reason(key=files.key, cert=files.cert, passphrase=PW + b"x")
    assert reason is Reason.WRONG_PASSPHRASE
    assert identity_reason(key=files.key, cert=files.cert, passphrase=None) is (
        Reason.PASSPHRASE_MISSING
    )


def test_key_mismatch(pki: Any, tmp_path: Path) -> None:
    a = pki.write("valid", tmp_path / "a", passphrase=PW)
    b = pki.write("valid_rsa", tmp_path / "b", passphrase=PW)
    assert identity_reason(key=a.key, cert=b.cert, passphrase=PW) is Reason.KEY_MISMATCH


def test_expired_and_not_yet_valid(pki: Any, tmp_path: Path) -> None:
    files = pki.write("expired", tmp_path / "e", passphrase=PW)
    assert identity_reason(pkcs12=files.pkcs12, passphrase=PW, at=pki.at) is Reason.EXPIRED
    load_identity(pkcs12=files.pkcs12, passphrase=PW, at=pki.at - timedelta(days=500))
    future = pki.write("not_yet_valid", tmp_path / "f", passphrase=PW)
    reason = identity_reason(pkcs12=future.pkcs12, passphrase=PW, at=pki.at)
    assert reason is Reason.NOT_YET_VALID


def test_unreadable_and_unencrypted(pki: Any, tmp_path: Path) -> None:
    files = pki.write("valid", tmp_path, passphrase=PW)
    missing = tmp_path / "missing.pem"
    assert identity_reason(key=missing, cert=files.cert, passphrase=PW) is Reason.UNREADABLE
    assert identity_reason(pkcs12=files.cert, passphrase=PW) is Reason.UNREADABLE
    assert identity_reason(passphrase=PW) is Reason.UNREADABLE  # no source at all
    plain = tmp_path / "plain.key.pem"
    plain.write_bytes(
        pki.valid.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert identity_reason(key=plain, cert=files.cert, passphrase=PW) is Reason.KEY_NOT_ENCRYPTED


def test_repr_shows_no_key(pki: Any) -> None:
    ident = SigningIdentity(key=pki.valid.key, certificate=pki.valid.certificate)
    assert "PRIVATE" not in repr(ident) and "key=" not in repr(ident)
    again = ident.key_pem(PW)
    assert b"ENCRYPTED PRIVATE KEY" in again


def test_read_passphrase_from_env_or_file(tmp_path: Path) -> None:
    assert read_passphrase(
        env="DOCNODE_KEY_PASSPHRASE", environ={"DOCNODE_KEY_PASSPHRASE": "pw"}
    ) == (b"pw")
    file = tmp_path / "passphrase"
    file.write_bytes(PW + b"\n")
    assert read_passphrase(file=file) == PW

    def reason(**kw: Any) -> Reason | None:
        with pytest.raises(IdentityInvalid) as info:
            read_passphrase(**kw)
        return info.value.reason

    assert reason(env="NOPE", environ={}) is Reason.PASSPHRASE_MISSING
    assert reason() is Reason.PASSPHRASE_MISSING
    assert reason(env="A", file=file, environ={"A": "x"}) is Reason.PASSPHRASE_AMBIGUOUS
    assert reason(file=tmp_path / "nope") is Reason.UNREADABLE
    (tmp_path / "empty").write_bytes(b"\n")
    assert reason(file=tmp_path / "empty") is Reason.PASSPHRASE_MISSING


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    return path


def test_legacy_pkcs12_from_openssl_loads(pki: Any, tmp_path: Path) -> None:
    # what national CAs hand out is often RC2/3DES-encrypted (openssl's -legacy)
    openssl = _openssl()
    files = pki.write("valid_rsa", tmp_path, passphrase=PW)
    (tmp_path / "pw").write_bytes(PW)
    plain = tmp_path / "plain.pem"
    subprocess.run(
        [openssl, "pkcs8", "-in", files.key, "-passin", f"file:{tmp_path / 'pw'}", "-out", plain],
        check=True, capture_output=True,
    )  # fmt: skip
    legacy = tmp_path / "legacy.pfx"
    subprocess.run(
        [openssl, "pkcs12", "-export", "-legacy", "-inkey", plain, "-in", files.cert,
         "-certfile", files.chain, "-passout", f"file:{tmp_path / 'pw'}", "-out", legacy],
        check=True, capture_output=True,
    )  # fmt: skip
    ident = load_identity(pkcs12=legacy, passphrase=PW)
    assert ident.certificate == pki.valid_rsa.certificate
    assert ident.chain == (pki.issuing,)
    assert identity_reason(pkcs12=legacy, passphrase=b"nope") is Reason.WRONG_PASSPHRASE


def test_our_pkcs12_opens_in_openssl(pki: Any, tmp_path: Path) -> None:
    openssl = _openssl()
    files = pki.write("valid", tmp_path, passphrase=PW)
    (tmp_path / "pw").write_bytes(PW)
    out = subprocess.run(
        [openssl, "pkcs12", "-in", files.pkcs12, "-passin", f"file:{tmp_path / 'pw'}",
         "-nokeys", "-clcerts"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    assert b"000.00.00.G22" in out or b"2.5.4.97" in out or b"organizationIdentifier" in out
