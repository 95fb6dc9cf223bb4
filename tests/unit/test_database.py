"""The database URL, the engine's settings, readiness, and migrations: from nothing, over a database the
pre-Alembic code created, and from several replicas at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, make_url, text

from frontend.storage.blobs import FileBlobStore
from frontend.storage.database import (
    Database,
    DatabaseOpenError,
    create_database_engine,
    open_database,
    parse_database_url,
)
from frontend.storage.images import image_store
from frontend.storage.keys import KeyStore, hash_key
from frontend.storage.migrate import MIGRATION_LOCK_KEY, MIGRATIONS_DIR
from frontend.storage.tables import metadata
from frontend.storage.usage import UsageStore
from testbed.frontend import free_port

REPLICAS = 4

# The schema exactly as the stores created it before migrations (frontend/storage/*.py, before Alembic).
OLD_SCHEMA = [
    """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    revoked REAL
)
""",
    """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    folder TEXT NOT NULL,
    name TEXT NOT NULL,
    prompt TEXT NOT NULL,
    negative_prompt TEXT NOT NULL,
    seed INTEGER NOT NULL,
    model TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT NOT NULL,
    created REAL NOT NULL
)
""",
    """
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    route TEXT NOT NULL,
    model TEXT NOT NULL,
    image_size TEXT NOT NULL,
    count INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    cost REAL NOT NULL,
    created REAL NOT NULL
)
""",
    "CREATE INDEX IF NOT EXISTS usage_owner_created ON usage (owner, created)",
]

# The newest revision: every database, new or adopted, ends there.
HEAD = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def schema_differences(db: Database, *, old_sqlite: bool = False) -> list:
    """What autogenerate would change to make the database match frontend.storage.tables: nothing, when
    the revisions and tables.py agree. The first schema declared its `PRIMARY KEY` columns without NOT NULL
    (which SQLite, unlike the standard, does not imply): `old_sqlite` lets that pass, ids are never null."""
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    if old_sqlite:
        differences = [d for d in differences if not (d[0][0] == "modify_nullable" and d[0][3] == "id")]
    return differences


def alembic_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# --- the URL --------------------------------------------------------------------------------------------


def test_unset_is_the_embedded_sqlite_file(tmp_path: Path) -> None:
    for unset in (None, ""):
        url = parse_database_url(unset, tmp_path)
        assert url.drivername == "sqlite" and url.database == str(tmp_path / "t2i.sqlite3")


@pytest.mark.parametrize("given", ["postgresql://u:pw@db:5432/t2i", "postgresql+psycopg://u:pw@db:5432/t2i"])
def test_postgresql_uses_psycopg_3(given: str) -> None:
    url = parse_database_url(given, Path())
    assert url.drivername == "postgresql+psycopg" and (url.host, url.port, url.database) == (
        "db",
        5432,
        "t2i",
    )


def test_sqlite_path_is_accepted(tmp_path: Path) -> None:
    assert parse_database_url(f"sqlite:///{tmp_path}/x.db", Path()).database == f"{tmp_path}/x.db"


@pytest.mark.parametrize(
    "given",
    [
        "mysql://u:hunter2@db/t2i",
        "postgresql+psycopg2://u:hunter2@db/t2i",
        "postgres://u:hunter2@db/t2i",
        "sqlite://",
        "sqlite:///:memory:",
        "hunter2",
        "db.example.com:5432",
    ],
)
def test_other_urls_are_one_line_that_names_the_setting_and_hides_the_password(given: str) -> None:
    with pytest.raises(DatabaseOpenError) as error:
        parse_database_url(given, Path())
    message = str(error.value)
    assert "T2I_DATABASE_URL" in message and "\n" not in message
    assert "hunter2" not in message
    assert "sqlite:///path/to/file" in message


# --- the engine and readiness ---------------------------------------------------------------------------


def test_embedded_sqlite_is_wal_with_synchronous_normal(tmp_path: Path) -> None:
    db = open_database(tmp_path / "new-dir")
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    db.close()


def test_ready_answers_for_a_live_database(database: Database) -> None:
    assert database.ready()


def test_ready_is_false_not_an_error_when_postgresql_is_down() -> None:
    url = make_url(f"postgresql+psycopg://t2i:hunter2@127.0.0.1:{free_port()}/t2i")
    assert not Database(create_database_engine(url)).ready()


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(DatabaseOpenError) as error:
        open_database(tmp_path, f"postgresql://t2i:hunter2@127.0.0.1:{free_port()}/t2i")
    message = str(error.value)
    assert message.startswith("cannot open the database postgresql+psycopg://t2i:***@127.0.0.1:")
    assert "hunter2" not in message and "\n" not in message


# --- migrations -----------------------------------------------------------------------------------------


def test_a_new_database_gets_the_schema_of_tables_py(database: Database) -> None:
    assert alembic_revision(database) == HEAD
    assert schema_differences(database) == []


def test_a_database_from_before_migrations_is_adopted_with_its_rows(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "t2i.sqlite3")
    for statement in OLD_SCHEMA:
        old.execute(statement)
    old.execute("INSERT INTO api_keys VALUES ('k1', 'ci', ?, 1.0, NULL)", (hash_key("t2i-old-secret"),))
    old.execute(
        "INSERT INTO images VALUES ('i1', 'k1', 'images', 'hero', 'p', '', 7, 'tiny', 8, 8, 'png', 1.5)"
    )
    old.execute(
        "INSERT INTO usage (owner, route, model, image_size, count, steps, latency_ms, cost, created) "
        "VALUES ('k1', '/images/tti', 'tiny', '8x8', 2, 20, 100, 0.5, 2.0)"
    )
    old.commit()
    old.close()

    db = open_database(tmp_path)
    assert alembic_revision(db) == HEAD
    assert schema_differences(db, old_sqlite=True) == []
    key = KeyStore(db).authenticate("t2i-old-secret")
    assert key is not None and key.id == "k1"
    record = image_store(db, FileBlobStore(tmp_path / "images")).get("i1")
    assert record is not None and (record.seed, record.created) == (7, 1.5)
    assert UsageStore(db).totals("k1") == {"requests": 1, "images": 2, "cost": 0.5, "latency_ms_avg": 100.0}
    db.close()


def test_a_database_where_only_the_keys_cli_ran_gets_the_other_tables(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "t2i.sqlite3")
    old.execute(OLD_SCHEMA[0])
    old.execute("INSERT INTO api_keys VALUES ('abc', 'ci', 'hash', 1.0, NULL)")
    old.commit()
    old.close()

    db = open_database(tmp_path)
    assert set(inspect(db.engine).get_table_names()) >= {"api_keys", "images", "usage"}
    assert schema_differences(db, old_sqlite=True) == []
    assert [key.id for key in KeyStore(db).list()] == ["abc"]
    db.close()


def test_reopening_changes_nothing(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    KeyStore(db).create("ci")
    db.close()
    db = open_database(tmp_path)
    assert alembic_revision(db) == HEAD and KeyStore(db).has_keys()
    db.close()


def start_replica(data_dir: Path, url: str) -> None:
    open_database(data_dir, url).close()


def advisory_lock_waiters(connection: Connection) -> int:
    query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    return connection.execute(text(query)).scalar_one()


@pytest.mark.postgresql
def test_replicas_starting_at_once_migrate_once(tmp_path: Path, postgres_url: str) -> None:
    # Processes, as replicas are (Alembic keeps its state in module globals, one per process). The test
    # holds the migration lock until every replica waits for it, then lets them all go at once.
    spawn = multiprocessing.get_context("spawn")
    replicas = [spawn.Process(target=start_replica, args=(tmp_path, postgres_url)) for _ in range(REPLICAS)]
    holder = create_database_engine(parse_database_url(postgres_url, tmp_path))
    with holder.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        for replica in replicas:
            replica.start()
        deadline = time.monotonic() + 60
        while advisory_lock_waiters(connection) < REPLICAS and time.monotonic() < deadline:
            time.sleep(0.1)
        waiting = advisory_lock_waiters(connection)
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    holder.dispose()
    for replica in replicas:
        replica.join(60)
    assert waiting == REPLICAS, "the replicas did not queue on the migration lock"
    assert [replica.exitcode for replica in replicas] == [0] * REPLICAS

    db = open_database(tmp_path, postgres_url)
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    assert schema_differences(db) == []
    db.close()
