"""The axis registry from the config (``[[axis_systems]]``, ``docnode.axis.registry``):
what the loader accepts and refuses, and what applying it does to a real store."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from docnode import errors
from docnode.axis.hub import register_system
from docnode.axis.registry import apply_config_registry, describe_agency, list_registry
from docnode.axis.secrets import SecretSealer
from docnode.axis.tables import AxisSystem
from docnode.cli.node import init_node
from docnode.config import AxisAgencySettings, AxisSystemSettings, load_config
from docnode.config._toml_writer import render_toml
from docnode.store import Store

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
ENV = {"SYS_A": "secret-a", "SYS_B": "secret-b"}


def _config(tmp_path: Path, systems: list[dict[str, Any]], *, role: str = "axis") -> Path:
    init_node(tmp_path / "n", organ_id="000.00.00.A01")
    config = tmp_path / "n" / "docnode.toml"
    data = tomllib.loads(config.read_text("utf-8"))
    data["node"]["role"] = role
    data["axis_systems"] = systems
    config.write_text(render_toml(data), "utf-8")  # unvalidated: the tests load it
    return config


def _system(system_id: str = "sys.a", *organs: str, **extra: Any) -> dict[str, Any]:
    return {"system_id": system_id, "secret_env": "SYS_A",
            "agencies": [{"organ_id": o} for o in organs or ("000.00.01.H01",)], **extra}


def test_loader_reads_systems_and_agencies(tmp_path: Path) -> None:
    config = _config(tmp_path, [{
        "system_id": "sys.a", "name": "DMS A", "secret_file": "secret-a.txt",
        "agencies": [{"organ_id": "000.00.01.H01", "name": "UBND", "mail": "vt@a.gov.vn",
                      "parent": "000.00.00.H01"}]}])
    settings = load_config(config, environ=ENV)
    assert settings.axis_systems == (AxisSystemSettings(
        system_id="sys.a", name="DMS A", secret_env=None,
        secret_file=config.parent / "secret-a.txt",
        agencies=(AxisAgencySettings("000.00.01.H01", "UBND", "vt@a.gov.vn",
                                     "000.00.00.H01"),)),)


@pytest.mark.parametrize(("systems", "role", "expected"), [
    ([_system()], "agency", 'only an axis has client systems'),
    ([{**_system(), "secret": "x"}], "axis", "secrets must not be written"),
    ([{"system_id": "sys.a", "agencies": [{"organ_id": "000.00.01.H01"}]}], "axis",
     "secret_env or secret_file is required"),
    ([{**_system(), "agencies": []}], "axis", "at least one [[axis_systems.agencies]]"),
    ([_system("sys.a"), {**_system("sys.b"), "secret_env": "SYS_B"}], "axis",
     "000.00.01.H01 already belongs to system 'sys.a'"),
    ([_system("sys.a"), _system("sys.a", "000.00.02.H01")], "axis", "declared twice"),
    ([_system("sys.a", "not an organ id")], "axis", "a strict OrganId"),
    ([{**_system(), "agencies": [{"organ_id": "000.00.01.H01", "mail": "nope"}]}], "axis",
     "not a mail address"),
    ([{**_system(), "agencies": [{"organ_id": "000.00.01.H01", "colour": "red"}]}], "axis",
     "colour: unknown key"),
])
def test_loader_refuses(tmp_path: Path, systems: list[dict[str, Any]], role: str,
                        expected: str) -> None:
    config = _config(tmp_path, systems, role=role)
    with pytest.raises(errors.ConfigInvalid) as caught:
        load_config(config, environ=ENV)
    assert expected in str(caught.value)


def _settings(*systems: tuple[str, str, tuple[AxisAgencySettings, ...]]
              ) -> tuple[AxisSystemSettings, ...]:
    return tuple(AxisSystemSettings(system_id=s, secret_env=env, secret_file=None,
                                    agencies=agencies) for s, env, agencies in systems)


async def test_apply_creates_updates_and_removes_only_its_own(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'axis.sqlite3'}", tmp_path / "blobs")
    sealer = SecretSealer(bytes(32))
    try:
        await register_system(store, sealer, "sys.b", b"secret-b", ["000.00.09.H01"],
                              now=NOW)
        first = _settings(("sys.a", "SYS_A", (
            AxisAgencySettings("000.00.01.H01", "UBND A", "vt@a.gov.vn"),
            AxisAgencySettings("000.00.02.H01", "Sở A", parent="000.00.01.H01"))))
        change = await apply_config_registry(store, sealer, first, environ=ENV, now=NOW)
        assert (change.systems, change.agencies, change.removed) == (1, 2, ())
        async with store.reader() as tx:
            row = await tx.session.get(AxisSystem, "sys.a")
            assert row is not None and sealer.open("sys.a", row.secret_sealed) == b"secret-a"
        rows = {r.organ_id: r for r in await list_registry(store)}
        assert {(o, r.system_id, r.source) for o, r in rows.items()} == {
            ("000.00.01.H01", "sys.a", "config"), ("000.00.02.H01", "sys.a", "config"),
            ("000.00.09.H01", "sys.b", "cli")}
        assert rows["000.00.02.H01"].parent == "000.00.01.H01"

        second = _settings(("sys.a", "SYS_A", (AxisAgencySettings("000.00.01.H01", "UBND"),)))
        change = await apply_config_registry(store, sealer, second, environ=ENV, now=NOW)
        assert change.removed == ("000.00.02.H01",)
        rows = {r.organ_id: r for r in await list_registry(store)}
        assert set(rows) == {"000.00.01.H01", "000.00.09.H01"}  # the CLI's entry stays
        assert (rows["000.00.01.H01"].name, rows["000.00.01.H01"].mail) == ("UBND", "")

        # sys.b's CLI-registered OrganId claimed by sys.a in the config: refused, and
        # nothing of that config applied (one transaction).
        clash = _settings(("sys.a", "SYS_A", (AxisAgencySettings("000.00.01.H01", "New"),
                                              AxisAgencySettings("000.00.09.H01"))))
        with pytest.raises(errors.ConfigInvalid, match=r"already belongs to system 'sys\.b'"):
            await apply_config_registry(store, sealer, clash, environ=ENV, now=NOW)
        rows = {r.organ_id: r for r in await list_registry(store)}
        assert (rows["000.00.01.H01"].name, rows["000.00.09.H01"].system_id) == ("UBND",
                                                                                  "sys.b")
        # a secret that cannot be read: nothing written either
        with pytest.raises(errors.ConfigInvalid, match="SYS_C is not set"):
            await apply_config_registry(store, sealer, _settings(("sys.c", "SYS_C", (
                AxisAgencySettings("000.00.03.H01"),))), environ=ENV, now=NOW)
        assert "000.00.03.H01" not in {r.organ_id for r in await list_registry(store)}

        described = await describe_agency(store, "000.00.09.H01", name="Bộ B", mail="b@b.vn")
        assert (described.name, described.mail, described.source) == ("Bộ B", "b@b.vn", "cli")
        with pytest.raises(errors.NotFound):
            await describe_agency(store, "000.00.77.H01", name="x")
    finally:
        await store.close()
