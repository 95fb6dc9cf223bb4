"""The embedded SQLite database (WAL) shared by the image, key and usage stores."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

DATABASE_FILENAME = "t2i.sqlite3"


class Database:
    """One connection guarded by a lock: stores are called from the event loop and from worker threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        # Durable on power loss together with WAL, without an fsync per transaction.
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()

    def execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def open_database(data_dir: Path) -> Database:
    return Database(data_dir / DATABASE_FILENAME)
