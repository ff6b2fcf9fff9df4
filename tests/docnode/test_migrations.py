"""The alembic migrations produce exactly the sqlmodel metadata, run at start, and ship in a
non-editable install."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from docnode.store import GENESIS_HASH, TABLES, create_engine, current_revision, migrate
from docnode.store.engine import reader_engine
from docnode.store.migrate import MIGRATIONS_DIR, alembic_config, all_metadata, head_revision

REPO = Path(__file__).resolve().parents[2]


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'node.sqlite3'}"


async def test_migrations_match_the_table_models_exactly(tmp_path: Path) -> None:
    await migrate(_url(tmp_path))
    metadata = all_metadata()
    engine = create_engine(_url(tmp_path))

    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with reader_engine(engine).connect() as conn:
            assert await conn.run_sync(diff) == []
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()
    assert {t.__tablename__ for t in TABLES} <= set(metadata.tables)


async def test_migrate_is_idempotent_and_seeds_the_chain_head(tmp_path: Path) -> None:
    await migrate(_url(tmp_path))
    await migrate(_url(tmp_path))
    engine = create_engine(_url(tmp_path))
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT id, last_id, last_hash, base_id, base_hash FROM event_chain_head"
            ))).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [(1, 0, GENESIS_HASH, 0, GENESIS_HASH)]


async def test_initial_revision_downgrades_cleanly(tmp_path: Path) -> None:
    await migrate(_url(tmp_path), "0001")
    engine = create_engine(_url(tmp_path))

    def tables(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    def downgrade(conn: Connection) -> None:
        command.downgrade(alembic_config(conn), "base")

    try:
        async with engine.connect() as conn:
            assert {t.__tablename__ for t in TABLES} <= await conn.run_sync(tables)
        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
        async with engine.connect() as conn:
            assert await conn.run_sync(tables) == {"alembic_version"}
    finally:
        await engine.dispose()
    await migrate(_url(tmp_path))  # and up again to the head


def test_package_data_covers_every_migration_file() -> None:
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["docnode"]
    package_root = REPO / "docnode"
    files = [p.relative_to(package_root).as_posix() for p in MIGRATIONS_DIR.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert "store/migrations/script.py.mako" in files
    uncovered = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert uncovered == []


@pytest.mark.slow
def test_non_editable_install_migrates(tmp_path: Path) -> None:
    # Build from a copy so that no build/ or egg-info appears in the working tree.
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "*.egg-info", "build", ".mypy_cache", ".ruff_cache",
        ".pytest_cache", "__pycache__", "data", "bench"))
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         str(src)], capture_output=True, text=True, timeout=240, check=False)
    if build.returncode != 0 and "bdist_wheel" not in build.stderr:
        pytest.fail(build.stderr[-2000:])
    if build.returncode != 0:  # pragma: no cover - depends on the build tools present
        pytest.skip("pip cannot build a wheel here (setuptools/wheel unavailable)")
    db = tmp_path / "installed.sqlite3"
    script = (f"import asyncio, docnode.store as s; assert s.__file__.startswith({str(target)!r}); "
              f"asyncio.run(s.migrate({f'sqlite:///{db}'!r})); print('ok')")
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "ok"
