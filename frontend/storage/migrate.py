"""Schema migrations (Alembic, in frontend/storage/migrations/), run at every start-up.

Developers make a new revision with
`alembic -c frontend/storage/alembic.ini revision --autogenerate -m "what changes"` (against the database
T2I_DATABASE_URL names); the server and `python -m frontend.keys` upgrade to it when they open the database.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
# pg_advisory_xact_lock's key: any 64-bit number no other client of the same database uses ("t2i_mig").
MIGRATION_LOCK_KEY = 0x7432695F6D6967
# Alembic's `context` (what env.py configures) is one module global per process: two threads migrating at
# once would configure each other's. Replicas are processes: lock_for_migration is for them.
_ALEMBIC_IN_USE = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built here so that nothing but the package is needed at run time;
    migrations/env.py runs on `connection` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def lock_for_migration(connection: Connection) -> None:
    """Make the caller's transaction the only one migrating: replicas that start at once queue here, and
    each one after the first finds the schema already upgraded."""
    if connection.dialect.name == "postgresql":
        # The transaction-scoped lock: released by the commit or rollback, so it cannot outlive the
        # migration on a pooled connection.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # Python's sqlite3 would run DDL outside any transaction; BEGIN IMMEDIATE takes the database's
        # write lock first, so the migration is atomic and two processes cannot run it at once.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade_to_head(engine: Engine) -> None:
    with _ALEMBIC_IN_USE, engine.begin() as connection:
        lock_for_migration(connection)
        command.upgrade(alembic_config(connection), "head")
