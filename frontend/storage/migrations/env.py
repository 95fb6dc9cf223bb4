"""Alembic's environment: the revisions in versions/ run on the connection frontend.storage.migrate hands
over (server start-up), or, for developers' `alembic` commands, on the database T2I_DATABASE_URL names."""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy import URL, Connection

from frontend.settings import Settings
from frontend.storage.database import create_database_engine, parse_database_url
from frontend.storage.migrate import lock_for_migration
from frontend.storage.tables import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters a table by copying it: autogenerate writes batch operations for it.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def configured_url() -> URL:
    settings = Settings()
    return parse_database_url(settings.database_url, settings.data_dir)


def run_from_command_line() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    engine = create_database_engine(configured_url())
    try:
        with engine.begin() as connection:
            lock_for_migration(connection)
            run_migrations(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    # `alembic upgrade head --sql`: the SQL script, for a database administrator to run.
    context.configure(url=configured_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := context.config.attributes.get("connection")) is not None:
    run_migrations(given)
else:
    run_from_command_line()
