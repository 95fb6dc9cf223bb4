"""PostgreSQL, Redis and an S3-compatible store (SeaweedFS) as real processes on free 127.0.0.1 ports,
for the end-to-end tier that runs several frontend replicas against shared state.

One context manager per service: it starts the server in the caller's directory, waits until the server
answers a real client, yields what a frontend needs to reach it (URLs, credentials, and `env()`: the
T2I_ / AWS_ settings), and stops it after (a clean shutdown signal, a bounded wait, then SIGKILL to its
whole process group). A server that exits early or is not ready in time raises `ServiceStartError` with
its log's tail.

    with postgres_server(tmp / "pg") as db, redis_server(tmp / "redis") as cache, s3_server(tmp / "s3") as s3:
        env = db.env() | cache.env() | s3.env(prefix="images")
"""

from testbed.postgres import PostgresServer, postgres_server
from testbed.process import ServiceStartError, free_port, port_is_open
from testbed.redis_store import RedisServer, redis_server
from testbed.s3_store import S3Server, s3_server

__all__ = [
    "PostgresServer",
    "RedisServer",
    "S3Server",
    "ServiceStartError",
    "free_port",
    "port_is_open",
    "postgres_server",
    "redis_server",
    "s3_server",
]
