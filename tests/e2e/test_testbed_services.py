"""The multi-replica tier's backing services are real and clean up: PostgreSQL through SQLAlchemy 2 and
psycopg, Redis through redis-py, SeaweedFS's S3 through boto3 (anonymous requests refused); each bound to
127.0.0.1 only, and after its context its ports are closed and none of its processes is left."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import boto3
import psutil
import pytest
import redis
import sqlalchemy as sa
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

import testbed.redis_store
from testbed.services import ServiceStartError, port_is_open, postgres_server, redis_server, s3_server

pytestmark = pytest.mark.e2e
START_TIMEOUT_S = 20.0


def process_tree(pid: int) -> list[psutil.Process]:
    leader = psutil.Process(pid)
    return [leader, *leader.children(recursive=True)]


def listening(processes: list[psutil.Process]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the processes listen on and every UDP socket they bound."""
    found = set()
    for process in processes:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:  # a postgres backend that has come and gone
            continue
        for conn in connections:
            if conn.status == psutil.CONN_LISTEN or conn.type == socket.SOCK_DGRAM:
                found.add((conn.laddr.ip, conn.laddr.port))
    return found


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes that have not exited (a zombie has exited: only its parent's reaping is left)."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_postgres_round_trip_through_sqlalchemy(tmp_path: Path) -> None:
    with postgres_server(tmp_path, timeout=START_TIMEOUT_S) as db:
        processes = process_tree(db.pid)
        addresses = listening(processes)
        assert ("127.0.0.1", db.port) in addresses
        assert {ip for ip, _ in addresses} == {"127.0.0.1"}
        assert db.env() == {"T2I_DATABASE_URL": db.url}
        assert db.url.startswith("postgresql+psycopg://")

        engine = sa.create_engine(db.url, connect_args={"connect_timeout": 5})
        metadata = sa.MetaData()
        images = sa.Table(
            "images",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("prompt", sa.Text, nullable=False),
        )
        try:
            metadata.create_all(engine)  # as the role that owns the database, not a superuser
            with engine.begin() as connection:
                connection.execute(sa.insert(images), [{"prompt": "a red circle"}, {"prompt": "a blue star"}])
            with engine.connect() as connection:
                rows = connection.execute(sa.select(images.c.prompt).order_by(images.c.id)).scalars().all()
            assert rows == ["a red circle", "a blue star"]
        finally:
            engine.dispose()

        wrong = sa.create_engine(db.url.replace(db.password, "wrong"), connect_args={"connect_timeout": 5})
        with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
            wrong.connect()
        wrong.dispose()

    assert not port_is_open(db.port)
    assert still_running(processes) == []
    assert len(processes) > 1  # the postmaster's children were watched too


def test_redis_set_get_incr_with_expiry(tmp_path: Path) -> None:
    with redis_server(tmp_path, timeout=START_TIMEOUT_S) as server:
        processes = process_tree(server.pid)
        assert listening(processes) == {("127.0.0.1", server.port)}
        assert server.env() == {"T2I_REDIS_URL": server.url}

        client = redis.Redis.from_url(server.url, socket_timeout=5)
        try:
            assert client.set("image:1", "ready", px=300)
            assert client.get("image:1") == b"ready"
            assert 0 < client.pttl("image:1") <= 300
            # A fixed-window rate limit as a replica would count it: INCR, and the window's expiry once.
            with client.pipeline() as pipe:
                counts = [
                    pipe.incr("rate:key-1").expire("rate:key-1", 60, nx=True).execute()[0] for _ in range(3)
                ]
            assert counts == [1, 2, 3]
            assert 0 < client.ttl("rate:key-1") <= 60
            deadline = time.monotonic() + 5
            while client.exists("image:1") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.get("image:1") is None
        finally:
            client.close()

    assert not port_is_open(server.port)
    assert still_running(processes) == []


def test_s3_put_get_list_and_anonymous_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with s3_server(tmp_path, timeout=START_TIMEOUT_S) as s3:
        processes = process_tree(s3.pid)
        addresses = listening(processes)
        assert ("127.0.0.1", int(s3.endpoint_url.rsplit(":", 1)[1])) in addresses
        assert {ip for ip, _ in addresses} == {"127.0.0.1"}
        assert {port for _, port in addresses} <= set(s3.listening_ports())

        # As the frontend will: keys from the environment, the bucket and prefix from the blob store URL.
        env = s3.env(prefix="images")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        bucket, prefix = env["T2I_BLOB_STORE_URL"].removeprefix("s3://").split("/", 1)
        config = Config(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 2})
        client = boto3.client("s3", endpoint_url=env["T2I_S3_ENDPOINT_URL"], config=config)
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
        client.put_object(Bucket=bucket, Key=f"{prefix}/a.png", Body=png, ContentType="image/png")
        client.put_object(Bucket=bucket, Key=f"{prefix}/b.png", Body=b"second", ContentType="image/png")
        got = client.get_object(Bucket=bucket, Key=f"{prefix}/a.png")
        assert got["Body"].read() == png
        assert got["ContentType"] == "image/png"
        listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
        assert [item["Key"] for item in listed["Contents"]] == [f"{prefix}/a.png", f"{prefix}/b.png"]

        anonymous = boto3.client(
            "s3", endpoint_url=s3.endpoint_url, config=config.merge(Config(signature_version=UNSIGNED))
        )
        for refused in (
            lambda: anonymous.get_object(Bucket=bucket, Key=f"{prefix}/a.png"),
            lambda: anonymous.list_objects_v2(Bucket=bucket),
            lambda: anonymous.put_object(Bucket=bucket, Key=f"{prefix}/c.png", Body=b"x"),
        ):
            with pytest.raises(ClientError) as error:
                refused()
            assert error.value.response["Error"]["Code"] == "AccessDenied"
        wrong_secret = boto3.client(
            "s3",
            endpoint_url=s3.endpoint_url,
            aws_access_key_id=s3.access_key,
            aws_secret_access_key="wrong",
            config=config,
        )
        with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
            wrong_secret.list_objects_v2(Bucket=bucket)

    assert not any(port_is_open(port) for port in s3.listening_ports())
    assert still_running(processes) == []
    leftover = [
        path for port in s3.listening_ports() for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")
    ]
    assert leftover == []


def test_a_server_that_exits_early_is_reported_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        # Bound, not listening: redis-server cannot bind it, and the probe is refused at once.
        taken.bind(("127.0.0.1", 0))
        monkeypatch.setattr(testbed.redis_store, "free_port", lambda: taken.getsockname()[1])
        expected = r"(?s)redis-server exited with code \d+.*already in use"
        with (
            pytest.raises(ServiceStartError, match=expected),
            redis_server(tmp_path, timeout=START_TIMEOUT_S),
        ):
            pass
