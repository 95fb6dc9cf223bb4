"""The key, image and usage stores and the keys CLI, on each database backend (the `database` fixture: the
embedded SQLite file, then a real PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from frontend import keys as keys_cli
from frontend.storage.blobs import FileBlobStore
from frontend.storage.database import Database, open_database
from frontend.storage.images import ImageRecord, image_store
from frontend.storage.keys import KEY_PREFIX, KeyStore, hash_key
from frontend.storage.tables import api_keys
from frontend.storage.usage import UsageRecord, UsageStore
from t2i.contract import MAX_SEED

# A time with microseconds: a 4-byte float column would round it to minutes.
NOW = 1_767_225_600.123456


def test_keys_create_authenticate_revoke(database: Database) -> None:
    keys = KeyStore(database)
    assert not keys.has_keys() and keys.list() == []
    key, secret = keys.create("ci")
    other, other_secret = keys.create("bench")
    assert secret.startswith(KEY_PREFIX) and keys.has_keys()
    assert keys.authenticate(secret) == key and keys.authenticate(other_secret) == other
    assert keys.authenticate(secret + "x") is None
    assert keys.list() == [key, other]  # by creation time

    assert keys.revoke(key.id)
    assert keys.authenticate(secret) is None and keys.authenticate(other_secret) == other
    (revoked, _) = keys.list()
    assert revoked.revoked is not None
    assert keys.revoke(key.id) and keys.list()[0].revoked == revoked.revoked  # the first revocation stays
    assert not keys.revoke("no-such-id")
    assert keys.has_keys()  # revoking keys never reopens the server


def test_only_the_hash_of_a_secret_is_stored(database: Database) -> None:
    _, secret = KeyStore(database).create("ci")
    with database.engine.connect() as connection:
        rows = connection.execute(select(api_keys)).all()
    assert [row.key_hash for row in rows] == [hash_key(secret)]
    assert not any(secret in str(value) for value in rows[0])


def test_image_rows_round_trip(database: Database, tmp_path: Path) -> None:
    store = image_store(database, FileBlobStore(tmp_path / "images"))
    # The largest seed a request may have: past a 32-bit column.
    record = ImageRecord("a" * 32, "key1", "images", "hero", "p", "", MAX_SEED, "tiny", 8, 8, "png", NOW)
    store.save(record, b"\x89PNG data")
    assert store.get(record.id) == record
    assert store.get(record.id, owner="key2") is None
    assert store.read_owned(record.id, "key1") == b"\x89PNG data"
    assert store.get("b" * 32) is None


def usage_at(created: float, count: int = 1, latency_ms: int = 100, cost: float = 0.25) -> UsageRecord:
    return UsageRecord("/v1/images/generations", "tiny", "256x256", count, 20, latency_ms, cost, created)


def test_usage_history_and_totals(database: Database) -> None:
    usage = UsageStore(database)
    assert usage.totals("alice") == {"requests": 0, "images": 0, "cost": 0, "latency_ms_avg": 0}
    usage.record("alice", usage_at(NOW, count=2, latency_ms=100, cost=0.5))
    usage.record("alice", usage_at(NOW + 1, count=1, latency_ms=201, cost=0.125))
    usage.record("alice", usage_at(NOW + 1, count=4))  # same time: the later row first
    usage.record("bob", usage_at(NOW))

    history = usage.history("alice", limit=2)
    assert [(r.created, r.count) for r in history] == [(NOW + 1, 4), (NOW + 1, 1)]
    assert len(usage.history("alice", limit=10)) == 3
    totals = usage.totals("alice")
    assert totals == {"requests": 3, "images": 7, "cost": 0.875, "latency_ms_avg": 133.7}
    assert [type(v) for v in totals.values()] == [int, int, float, float]


def test_stores_are_safe_from_many_threads(database: Database) -> None:
    usage = UsageStore(database)
    threads = [
        threading.Thread(target=lambda: [usage.record("alice", usage_at(NOW)) for _ in range(20)])
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert usage.totals("alice")["requests"] == 160


def test_keys_cli_on_the_configured_database(
    tmp_path: Path,
    database_url: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("T2I_DATA_DIR", str(tmp_path))
    if database_url is None:
        monkeypatch.delenv("T2I_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("T2I_DATABASE_URL", database_url)

    assert keys_cli.main(["create", "--name", "ci"]) == 0
    secret = capsys.readouterr().out.splitlines()[-1]  # the key alone on the last line, for scripts
    db = open_database(tmp_path, database_url)
    key = KeyStore(db).authenticate(secret)
    assert key is not None and key.name == "ci"

    assert keys_cli.main(["list"]) == 0
    assert key.id in capsys.readouterr().out
    assert keys_cli.main(["revoke", key.id]) == 0
    assert KeyStore(db).authenticate(secret) is None
    assert keys_cli.main(["revoke", "no-such-id"]) == 1
    db.close()


def test_keys_cli_refuses_an_unsupported_url_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("T2I_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("T2I_DATABASE_URL", "mysql://u:hunter2@db/t2i")
    assert keys_cli.main(["list"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: T2I_DATABASE_URL=") and error.count("\n") == 1 and "hunter2" not in error
