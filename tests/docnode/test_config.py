"""docnode.config: the example loads; every kind of bad config gives one problem per mistake;
secrets are never accepted in clear; relative paths follow the config file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from docnode.config import (
    HostPort,
    QueueBackend,
    RevocationMode,
    Role,
    SignaturePolicyMode,
    SqliteSynchronous,
    load_config,
    render_config,
    resolve_config_path,
    validate_config_data,
    write_config,
)
from docnode.errors import ConfigInvalid
from envelopes.limits import MiB

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"


def _minimal() -> dict[str, Any]:
    return {
        "node": {"organ_ids": ["000.00.00.G22"], "name": "G22"},
        "identity": {"key": "k.pem", "cert": "c.pem", "passphrase_env": "PW"},
        "trust": {"anchors": ["root.pem"]},
    }


def _problems(data: dict[str, Any], tmp_path: Path, environ: dict[str, str] | None = None
              ) -> list[str]:
    with pytest.raises(ConfigInvalid) as info:
        validate_config_data(data, path=tmp_path / "docnode.toml", environ=environ or {})
    assert info.value.code == "config_invalid"
    assert info.value.detail["problems"] == info.value.problems
    return info.value.problems


def test_example_config_loads_with_every_section() -> None:
    s = load_config(EXAMPLE, environ={})
    assert s.node.organ_ids == ("000.00.00.G22",)
    assert s.node.role is Role.AGENCY
    assert s.node.data_dir == REPO / "data"
    assert s.identity.key == REPO / "keys" / "signing.key.pem"
    assert s.identity.passphrase_env == "DOCNODE_KEY_PASSPHRASE"
    assert s.trust.revocation is RevocationMode.REQUIRED
    assert s.trust.signature_policy is SignaturePolicyMode.REQUIRED
    assert s.store.url == f"sqlite+aiosqlite:///{REPO / 'data' / 'docnode.sqlite3'}"
    assert s.store.sqlite_synchronous is SqliteSynchronous.FULL
    assert s.queue.backend is QueueBackend.SQL
    assert s.listen.direct == HostPort("127.0.0.1", 8701)
    assert s.peers[0].organ_ids == ("000.00.00.H41",)
    assert s.axis is not None and s.axis.secret_env == "DOCNODE_AXIS_SECRET"
    assert s.delivery.max_attempts == 20
    assert s.limits.to_limits().max_packet_bytes == 64 * MiB
    assert s.limits.freshness_past_s == 604800


def test_example_config_documents_every_key() -> None:
    # Every key the loader knows appears in the example (commented or not).
    text = EXAMPLE.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    for section in ("node", "identity", "trust", "store", "queue", "listen", "axis",
                    "delivery", "limits", "logging"):
        assert section in data, section
    for key in ("pkcs12", "passphrase_file", "url_env", "amqp_url", "amqp_url_env",
                "tls_cert", "tls_key", "tls_client_ca", "secret_file", "client_cert",
                "directory_sync_s", "[[axis_systems]]", "[[axis_systems.agencies]]", "parent"):
        assert (key if key.startswith("[") else f"{key} =") in text, key


def test_defaults_fill_a_minimal_config(tmp_path: Path) -> None:
    s = validate_config_data(_minimal(), path=tmp_path / "docnode.toml", environ={})
    assert s.node.data_dir == tmp_path / "data"
    assert s.store.url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'docnode.sqlite3'}"
    assert s.store.blobs_dir == tmp_path / "data" / "blobs"
    assert s.axis is None and s.peers == ()
    assert s.delivery.lease_s > s.delivery.request_timeout_s
    assert s.listen.api == HostPort("127.0.0.1", 8702)


def test_every_problem_reported_at_once_one_message_each(tmp_path: Path) -> None:
    data = _minimal()
    data["node"]["colour"] = "blue"                       # unknown key
    data["node"]["organ_ids"] = ["bad id", "000.00.00.G22"]  # invalid OrganId
    data["delivery"] = {"max_attempts": "x", "backoff_initial_s": -1}
    data["trust"]["revocation"] = "maybe"
    data["listen"] = {"direct": "nohost"}
    data["extra"] = {}                                    # unknown section
    problems = _problems(data, tmp_path)
    assert len(problems) == 7, problems
    assert "[delivery] max_attempts: expected a positive integer, got 'x'" in problems
    starts = sorted(p.split(":")[0] for p in problems)
    assert starts == sorted([
        "[node] colour", "[node] organ_ids", "[delivery] max_attempts",
        "[delivery] backoff_initial_s", "[trust] revocation", "[listen] direct", "[extra]"])


def test_missing_required_keys_are_named(tmp_path: Path) -> None:
    problems = _problems({}, tmp_path)
    assert "[node] organ_ids: required key is missing" in problems
    assert "[trust] anchors: required key is missing" in problems
    assert any(p.startswith("[identity] key, cert") for p in problems)


@pytest.mark.parametrize(("section", "key", "value"), [
    ("identity", "passphrase", "hunter2"),
    ("axis", "secret", "s3cret"),
])
def test_secrets_in_clear_are_refused(tmp_path: Path, section: str, key: str,
                                      value: str) -> None:
    data = _minimal()
    data.setdefault(section, {})[key] = value
    if section == "axis":
        data["axis"].update(url="https://axis.example", system_id="x", secret_env="S")
    problems = _problems(data, tmp_path)
    assert [p.split(":")[0] for p in problems] == [f"[{section}] {key}"]
    assert all(value not in p for p in problems)  # the secret is never echoed


def test_passwords_in_urls_are_refused(tmp_path: Path) -> None:
    data = _minimal()
    data["store"] = {"url": "postgresql://docnode:pw@db/docnode"}
    data["queue"] = {"backend": "amqp", "amqp_url": "amqp://u:pw@mq/"}
    problems = _problems(data, tmp_path)
    assert sorted(p.split(":")[0] for p in problems) == ["[queue] amqp_url", "[store] url"]
    assert all("pw@" not in p for p in problems)


def test_url_from_environment(tmp_path: Path) -> None:
    data = _minimal()
    data["store"] = {"url_env": "STORE_URL"}
    data["queue"] = {"backend": "amqp", "amqp_url_env": "AMQP_URL"}
    env = {"STORE_URL": "postgresql://docnode:pw@db/docnode", "AMQP_URL": "amqp://u:pw@mq/"}
    s = validate_config_data(data, path=tmp_path / "docnode.toml", environ=env)
    assert s.store.url == "postgresql+asyncpg://docnode:pw@db/docnode"
    assert s.queue.amqp_url == "amqp://u:pw@mq/"
    assert "pw" not in repr(s)  # the URL fields are kept out of repr
    assert _problems(data, tmp_path, {}) == [
        "[store] url_env: environment variable STORE_URL is not set",
        "[queue] amqp_url_env: environment variable AMQP_URL is not set"]


def test_passphrase_read_on_demand(tmp_path: Path) -> None:
    s = validate_config_data(_minimal(), path=tmp_path / "docnode.toml", environ={})
    assert s.identity.read_passphrase({"PW": "pässword"}) == "pässword".encode()
    with pytest.raises(ConfigInvalid) as info:
        s.identity.read_passphrase({})
    assert info.value.problems == ["[identity] passphrase_env: environment variable PW is "
                                   "not set"]
    data = _minimal()
    data["identity"] = {"key": "k.pem", "cert": "c.pem", "passphrase_file": "pw.txt"}
    (tmp_path / "pw.txt").write_text("from-file\n")
    s = validate_config_data(data, path=tmp_path / "docnode.toml", environ={})
    assert s.identity.read_passphrase({}) == b"from-file"


def test_identity_shapes(tmp_path: Path) -> None:
    data = _minimal()
    data["identity"] = {"pkcs12": "id.p12", "key": "k.pem", "passphrase_env": "PW",
                        "passphrase_file": "pw"}
    problems = _problems(data, tmp_path)
    assert sorted(p.split(":")[0] for p in problems) == [
        "[identity] passphrase_file", "[identity] pkcs12"]


def test_check_files_names_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "docnode.toml"
    path.write_text(render_config(_minimal()))
    load_config(path, environ={})  # shape only
    with pytest.raises(ConfigInvalid) as info:
        load_config(path, environ={}, check_files=True)
    assert [p.split(":")[0] for p in info.value.problems] == [
        "[identity] key", "[identity] cert", "[trust] anchors"]


def test_unreadable_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid):
        load_config(tmp_path / "absent.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[node\norgan_ids = 1")
    with pytest.raises(ConfigInvalid) as info:
        load_config(bad, environ={})
    assert len(info.value.problems) == 1


def test_peers_and_listeners(tmp_path: Path) -> None:
    data = _minimal()
    data["peers"] = [
        {"organ_ids": ["000.00.00.H41"], "url": "http://127.0.0.1:8801"},
        {"organ_ids": ["000.00.00.H41"], "url": "https://peer.example", "client_cert": "c"},
    ]
    data["listen"] = {"direct": "[::1]:0", "api": "", "tls_client_ca": "ca.pem"}
    problems = _problems(data, tmp_path)
    assert sorted(p.split(":")[0] for p in problems) == [
        "[listen] tls_client_ca", "[peers][1] client_cert", "[peers][1] organ_ids"]
    data["peers"].pop()
    data["listen"] = {"direct": "[::1]:0", "api": ""}
    s = validate_config_data(data, path=tmp_path / "docnode.toml", environ={})
    assert s.listen.direct == HostPort("::1", 0) and str(s.listen.direct) == "[::1]:0"
    assert s.listen.api is None


def test_relative_sqlite_url_follows_the_config_file(tmp_path: Path) -> None:
    data = _minimal()
    data["store"] = {"url": "sqlite:///db/x.sqlite3"}
    s = validate_config_data(data, path=tmp_path / "sub" / "docnode.toml", environ={})
    assert s.store.url == f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'db' / 'x.sqlite3'}"


def test_write_config_round_trips(tmp_path: Path) -> None:
    data = _minimal()
    data["node"]["names"] = {"000.00.00.G22": 'Văn phòng "G22"'}
    data["peers"] = [{"organ_ids": ["000.00.00.H41"], "url": "http://127.0.0.1:8801"}]
    data["delivery"] = {"max_attempts": 5, "backoff_initial_s": 0.5}
    path = tmp_path / "docnode.toml"
    written = write_config(path, data, environ={})
    assert tomllib.loads(path.read_text(encoding="utf-8")) == data
    assert load_config(path, environ={}) == written
    assert written.node.name_of("000.00.00.G22") == 'Văn phòng "G22"'
    with pytest.raises(ConfigInvalid):
        write_config(path, {"node": {}}, environ={})
    assert load_config(path, environ={}) == written  # a bad config never replaces a good one


def test_resolve_config_path() -> None:
    assert resolve_config_path("x.toml", {"DOCNODE_CONFIG": "y.toml"}) == Path("x.toml")
    assert resolve_config_path(None, {"DOCNODE_CONFIG": "y.toml"}) == Path("y.toml")
    assert resolve_config_path(None, {}) == Path("docnode.toml")


def test_trust_allowlists_and_organ_id_map(tmp_path: Path) -> None:
    fp = "ab" * 32
    data = _minimal()
    data["trust"].update(eku_allowlist=["1.3.6.1.4.1.99999.1", fp, "not-an-oid"],
                         organ_id_map={fp: ["000.00.00.G22"], "XYZ": ["000.00.00.G22"]})
    problems = _problems(data, tmp_path)
    assert sorted(p.split(":")[0] for p in problems) == [
        "[trust] eku_allowlist", "[trust] organ_id_map"]
    data["trust"]["eku_allowlist"].pop()
    del data["trust"]["organ_id_map"]["XYZ"]
    s = validate_config_data(data, path=tmp_path / "docnode.toml", environ={})
    assert s.trust.eku_allowlist == ("1.3.6.1.4.1.99999.1", fp)
    assert dict(s.trust.organ_id_map) == {fp: ("000.00.00.G22",)}


def test_example_axis_registry_block_is_valid_for_an_axis() -> None:
    # The commented [[axis_systems]] block of the example, uncommented, in an axis config.
    text = EXAMPLE.read_text(encoding="utf-8")
    block = text[text.index("# [[axis_systems]]"):]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                            for line in block.splitlines())
    data = tomllib.loads(text) | tomllib.loads(uncommented)
    data["node"]["role"] = "axis"
    s = validate_config_data(data, path=EXAMPLE, environ={})
    assert [a.organ_id for a in s.axis_systems[0].agencies] == ["000.00.00.H57",
                                                                "000.01.00.H57"]
    assert s.axis_systems[0].secret_env == "AXIS_SECRET_DMS_UBND_X"
