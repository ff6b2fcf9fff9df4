"""``docnode audit-log verify`` and ``docnode doctor`` through the real CLI, on a node folder
made by ``docnode init``; the SQLite file is edited directly to tamper with the event log."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docnode.cli import main
from docnode.cli.node import init_node
from docnode.config import load_config
from docnode.config._toml_writer import render_toml
from docnode.store import Store


def _node(tmp_path: Path) -> Path:
    init_node(tmp_path / "n", organ_id="000.00.00.G22", name="Văn phòng")
    return tmp_path / "n" / "docnode.toml"


async def _fill(config: Path, n: int) -> Path:
    settings = load_config(config)
    store = await Store.from_settings(settings.store)
    try:
        at = datetime(2026, 12, 1, tzinfo=UTC)
        for i in range(n):
            async with store.transaction() as tx:
                await tx.append_event(kind="security", at=at + timedelta(seconds=i),
                                      actor="test", evidence={"n": i})
    finally:
        await store.close()
    db = settings.store.url.split("///", 1)[1]
    return Path(db)


def _verify(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    code = main(["audit-log", "verify", "-c", str(config), "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, Path]:
    config = _node(tmp_path)
    db = asyncio.run(_fill(config, 6))
    return config, db


def test_intact_chain(filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, result = _verify(filled[0], capsys)
    assert code == 0
    assert result["ok"] is True and result["checked"] == 6


def _sql(db: Path, *statements: str) -> None:
    con = sqlite3.connect(db)
    try:
        for stmt in statements:
            con.execute(stmt)
        con.commit()
    finally:
        con.close()


def test_edited_row(filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, db = filled
    _sql(db, "UPDATE events SET evidence = '{\"n\":99}' WHERE id = 3")
    code, result = _verify(config, capsys)
    assert code == 1
    assert (result["problem"], result["bad_id"], result["last_good_id"]) == (
        "hash_mismatch", 3, 2)


def test_deleted_row(filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, db = filled
    _sql(db, "DELETE FROM events WHERE id = 4")
    code, result = _verify(config, capsys)
    assert code == 1
    assert (result["problem"], result["bad_id"]) == ("gap", 4)


def test_deleted_last_row(filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, db = filled
    _sql(db, "DELETE FROM events WHERE id = 6")
    code, result = _verify(config, capsys)
    assert code == 1
    assert result["problem"] == "head_mismatch"


def test_reordered_rows(filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Rows 2 and 3 swap places (ids exchanged, contents and hashes kept)."""
    config, db = filled
    _sql(db, "UPDATE events SET id = -2 WHERE id = 2", "UPDATE events SET id = 2 WHERE id = 3",
         "UPDATE events SET id = 3 WHERE id = -2")
    code, result = _verify(config, capsys)
    assert code == 1
    assert result["bad_id"] == 2
    assert result["problem"] in ("prev_mismatch", "hash_mismatch")


def test_edited_hash_to_match_is_caught_by_the_next_row(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """An editor who recomputes the edited row's own hash still breaks the next link."""
    from docnode.store.chain import event_hash

    config, db = filled
    con = sqlite3.connect(db)
    try:
        row = con.execute("SELECT id, document_id, delivery_id, kind, at, actor, prev_hash "
                          "FROM events WHERE id = 3").fetchone()
        at = datetime.fromisoformat(row[4]).replace(tzinfo=UTC)
        new = event_hash(row[6], id=row[0], document_id=row[1], delivery_id=row[2],
                         kind=row[3], at=at, actor=row[5], evidence='{"n":99}')
        con.execute("UPDATE events SET evidence = '{\"n\":99}', hash = ? WHERE id = 3", (new,))
        con.commit()
    finally:
        con.close()
    code, result = _verify(config, capsys)
    assert code == 1
    assert (result["problem"], result["bad_id"]) == ("prev_mismatch", 4)


def test_text_output_names_the_bad_row(
    filled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, db = filled
    _sql(db, "DELETE FROM events WHERE id = 2")
    capsys.readouterr()
    assert main(["audit-log", "verify", "-c", str(config)]) == 1
    assert "2" in capsys.readouterr().out


def test_missing_database_is_a_store_error(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = _node(tmp_path)
    assert main(["audit-log", "verify", "-c", str(config)]) == 2
    assert "[store_unavailable]" in capsys.readouterr().err


# --- doctor -------------------------------------------------------------------------------


def _doctor(config: Path, capsys: pytest.CaptureFixture[str], *extra: str
            ) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    code = main(["doctor", "-c", str(config), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def _severities(report: dict[str, object]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for f in report["findings"]:  # type: ignore[attr-defined]
        found.setdefault(f["check"], set()).add(f["severity"])
    return found


def test_doctor_healthy_node(filled: tuple[Path, Path],
                             capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _doctor(filled[0], capsys)
    assert code == 0 and report["ok"] is True
    sev = _severities(report)
    for check in ("config", "identity", "certificate_expiry", "trust", "store", "queue", "peer"):
        assert sev[check] == {"ok"}, check


def test_doctor_finds_what_is_wrong(filled: tuple[Path, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    config, db = filled
    folder = config.parent
    # a wrong passphrase, an unreachable peer, a store that is gone
    (folder / "keys" / "passphrase").write_text("not-the-passphrase")
    main(["peers", "add", "-c", str(config), "--organ-id", "000.00.00.H41",
          "--url", "http://127.0.0.1:9"])
    os.rename(db, db.with_suffix(".moved"))
    code, report = _doctor(config, capsys)
    assert code == 1 and report["ok"] is False
    sev = _severities(report)
    assert sev["identity"] == {"error"}
    assert sev["store"] == {"error"}
    assert sev["queue"] == {"skipped"}
    assert "error" in sev["peer"]
    for f in report["findings"]:  # type: ignore[attr-defined]
        if f["severity"] == "error":
            assert f["fix"], f
        assert "not-the-passphrase" not in json.dumps(f)


def test_doctor_reports_a_broken_config(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "docnode.toml"
    config.write_text("[node]\norgan_ids = ['bad id']\nunknown_key = 1\n")
    code, report = _doctor(config, capsys)
    assert code == 1
    assert _severities(report) == {"config": {"error"}}


def test_doctor_checks_the_axis_secrets(filled: tuple[Path, Path],
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    config, _db = filled
    data = tomllib.loads(config.read_text("utf-8"))
    data["axis"] = {"url": "http://127.0.0.1:9", "system_id": "sys.x",
                    "secret_env": "DOCTOR_AXIS_SECRET"}
    config.write_text(render_toml(data), "utf-8")
    monkeypatch.delenv("DOCTOR_AXIS_SECRET", raising=False)
    code, report = _doctor(config, capsys)
    assert code == 1 and _severities(report)["axis_secret"] == {"error"}
    monkeypatch.setenv("DOCTOR_AXIS_SECRET", "s3cret-value-never-shown")
    _code, report = _doctor(config, capsys)
    assert _severities(report)["axis_secret"] == {"ok"}
    assert "s3cret-value-never-shown" not in json.dumps(report)
