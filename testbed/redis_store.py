"""Debian's redis-server, in memory only, on a free 127.0.0.1 port."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testbed.process import HOST, ServiceStartError, free_port, start_server, stop_server, wait_ready

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RedisServer:
    port: int
    log_file: Path
    pid: int
    startup_s: float
    host: str = HOST

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def env(self) -> dict[str, str]:
        return {"T2I_REDIS_URL": self.url}


@contextmanager
def redis_server(work_dir: Path, *, timeout: float = 30.0) -> Iterator[RedisServer]:
    """redis-server on 127.0.0.1 with no snapshots and no append-only file; its log is
    `work_dir/redis.log`."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    started = time.monotonic()
    work_dir.mkdir(parents=True, exist_ok=True)
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceStartError("no redis-server: install Debian's `redis-server` package")
    log_file = work_dir / "redis.log"
    port = free_port()
    cmd = [
        binary,
        "--bind", HOST,
        "--port", str(port),
        "--protected-mode", "yes",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(work_dir),
        "--daemonize", "no",
        "--logfile", "",
    ]  # fmt: skip
    process = start_server(cmd, log_file, cwd=work_dir)
    try:
        # No retries inside a probe: redis-py's default backs off for up to seconds on a refused connect.
        client = redis.Redis(
            host=HOST, port=port, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0)
        )

        def answers_ping() -> str | None:
            try:
                client.ping()
            except redis.RedisError as exc:  # not listening yet, or still loading
                return str(exc)
            return None

        try:
            wait_ready("redis-server", process, log_file, answers_ping, timeout)
        finally:
            client.close()
        server = RedisServer(port, log_file, process.pid, time.monotonic() - started)
        logger.info("redis on %s:%d, ready in %.2f s", HOST, port, server.startup_s)
        yield server
    finally:
        stop_server(process)
