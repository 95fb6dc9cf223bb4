"""The database named by T2I_DATABASE_URL (PostgreSQL, or an SQLite file; default: the embedded SQLite file
in the data directory), shared by the image, key and usage stores.

Stores are called from the event loop and from worker threads: each call checks a connection out of the
engine's pool for one transaction (`engine.begin()`), so nothing is shared between calls but the pool.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from frontend.storage.migrate import upgrade_to_head

logger = logging.getLogger(__name__)

DATABASE_FILENAME = "t2i.sqlite3"
ACCEPTED_URLS = "postgresql://user:password@host:port/database, sqlite:///path/to/file, or unset (embedded)"
# A PostgreSQL that does not answer fails start-up, or /readyz, after this instead of the OS's minutes.
POSTGRES_CONNECT_TIMEOUT_S = 5


class DatabaseOpenError(RuntimeError):
    """The database URL is not supported, or the database cannot be reached: a one-line message."""


def parse_database_url(setting: str | None, data_dir: Path) -> URL:
    """The SQLAlchemy URL for T2I_DATABASE_URL, PostgreSQL's on the psycopg 3 driver."""
    if not setting:
        return URL.create("sqlite", database=str(data_dir / DATABASE_FILENAME))
    try:
        url = make_url(setting)
    except ArgumentError:
        # Not echoed: an unparsable value may still hold a password.
        raise DatabaseOpenError(f"T2I_DATABASE_URL is not a URL; expected {ACCEPTED_URLS}") from None
    if url.drivername in ("postgresql", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")
    shown = url.render_as_string(hide_password=True)
    if url.drivername == "sqlite" and url.database and url.database != ":memory:":
        return url
    if url.drivername == "sqlite":
        # An in-memory database would be a different empty one on each pooled connection.
        raise DatabaseOpenError(f"T2I_DATABASE_URL={shown} needs a file path: sqlite:///path/to/file")
    raise DatabaseOpenError(f"T2I_DATABASE_URL={shown} is not supported; expected {ACCEPTED_URLS}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # Durable on power loss together with WAL, without an fsync per transaction.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_database_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        assert url.database  # parse_database_url() refuses an SQLite URL without a file
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
    # pre_ping: a connection the server (or a proxy, or a failover) closed while pooled is replaced
    # before a store uses it, instead of failing that request.
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


class Database:
    """The engine the stores share (`engine.begin()` per call), its readiness, and its URL for logs."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @property
    def description(self) -> str:
        """The URL without its password, for logs."""
        return self.engine.url.render_as_string(hide_password=True)

    def ready(self) -> bool:
        """Whether the database answers a query now (for /readyz)."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            logger.warning("database %s is not ready: %s", self.description, _first_line(exc))
            return False
        return True

    def close(self) -> None:
        self.engine.dispose()


def _first_line(exc: SQLAlchemyError) -> str:
    """The driver's own message (not SQLAlchemy's, which adds the SQL and a link), first line only."""
    message = str(getattr(exc, "orig", None) or exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


def open_database(data_dir: Path, url: str | None = None) -> Database:
    """The database `url` (T2I_DATABASE_URL) names, upgraded to the latest schema; raises DatabaseOpenError
    if the URL is not supported or the database cannot be reached."""
    database = Database(create_database_engine(parse_database_url(url, data_dir)))
    try:
        upgrade_to_head(database.engine)
    except OperationalError as exc:
        database.close()
        raise DatabaseOpenError(
            f"cannot open the database {database.description}: {_first_line(exc)}"
        ) from exc
    return database
