"""PostgreSQL, Redis and an S3-compatible store (SeaweedFS) as real processes on free 127.0.0.1 ports,
for the end-to-end tier that runs several frontend replicas against shared state.

One context manager per service: it starts the server in the caller's directory, waits until the server
answers a real client, yields what a frontend needs to reach it (URLs, credentials, and `env()`: the
T2I_ / AWS_ settings), and stops it after (a clean shutdown signal, a bounded wait, then SIGKILL to its
whole process group). A server that exits early or is not ready in time raises `ServiceStartError` with
its log's tail.

`shared_state` starts all three and yields the settings that frontend replicas share to use them.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testbed.postgres import PostgresServer, postgres_server
from testbed.process import ServiceStartError, free_port, port_is_open
from testbed.redis_store import RedisServer, redis_server
from testbed.s3_store import S3Server, s3_server

__all__ = [
    "shared_state",
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


@contextmanager
def shared_state(work_dir: Path) -> Iterator[dict[str, str]]:
    """PostgreSQL, Redis and an S3 store at once; yields T2I_DATABASE_URL, T2I_REDIS_URL, the blob store
    settings (objects under `images/`) and the AWS credentials, as environment variables."""
    with postgres_server(work_dir) as database, redis_server(work_dir) as redis, s3_server(work_dir) as s3:
        yield {**database.env(), **redis.env(), **s3.env(prefix="images")}
