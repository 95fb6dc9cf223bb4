"""A throwaway PostgreSQL cluster from Debian's server binaries, on a free 127.0.0.1 port."""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testbed.process import (
    HOST,
    ServiceStartError,
    free_port,
    log_tail,
    start_server,
    stop_server,
    wait_ready,
)

logger = logging.getLogger(__name__)
SUPERUSER = "postgres"
# SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") would wait for every client to disconnect.
STOP_SIGNAL = signal.SIGINT


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str
    password: str
    database: str
    data_dir: Path
    log_file: Path
    pid: int
    startup_s: float
    host: str = HOST

    @property
    def url(self) -> str:
        """SQLAlchemy 2 URL with the psycopg (3) driver."""
        return f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def env(self) -> dict[str, str]:
        return {"T2I_DATABASE_URL": self.url}


def postgres_bin_dir() -> Path:
    """Debian's server binaries (/usr/lib/postgresql/<version>/bin, the newest version there), else
    the directory of an `initdb` on PATH."""
    debian = [path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/postgres")]
    if debian:
        return max(debian, key=lambda bin_dir: _version_key(bin_dir.parent.name))
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).parent / "postgres").is_file():
        return Path(initdb).parent
    raise ServiceStartError(
        "no PostgreSQL server binaries: install Debian's `postgresql` package "
        "(apt-get install --no-install-recommends postgresql)"
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def server_account() -> tuple[int, int] | None:
    """(uid, gid) to run initdb and postgres as, which refuse to run as root; None: as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceStartError(
            "running as root, which PostgreSQL refuses, and there is no `postgres` user to run it as "
            "(Debian's postgresql-common package creates it)"
        ) from None
    return account.pw_uid, account.pw_gid


def _cluster_dir(work_dir: Path, account: tuple[int, int] | None) -> tuple[Path, bool]:
    """The directory for the cluster and its socket, owned by the server's account, and whether it is a
    private one outside `work_dir` (to remove after): pytest's temporary directories sit under a 0700
    root-owned base that the `postgres` user cannot traverse."""
    reachable = account is None or (
        subprocess.run(["test", "-x", str(work_dir)], user=account[0], group=account[1]).returncode == 0
    )
    if reachable:
        cluster = work_dir / "postgres"
        cluster.mkdir()
    else:
        cluster = Path(tempfile.mkdtemp(prefix="t2i-postgres-"))
    if account is not None:
        os.chown(cluster, *account)
    cluster.chmod(0o700)
    return cluster, not reachable


def _initdb(
    bin_dir: Path,
    cluster: Path,
    superuser_password: str,
    account: tuple[int, int] | None,
    log_file: Path,
    timeout: float,
) -> Path:
    data_dir = cluster / "data"
    # A file the server's account can read: initdb cannot reopen a root-owned pipe as /dev/stdin.
    password_file = cluster / "superuser-password"
    password_file.write_text(superuser_password)
    password_file.chmod(0o600)
    if account is not None:
        os.chown(password_file, *account)
    cmd = [
        str(bin_dir / "initdb"),
        f"--pgdata={data_dir}",
        f"--username={SUPERUSER}",
        f"--pwfile={password_file}",
        # Passwords on TCP and on the socket alike: the tests connect as a frontend would.
        "--auth-host=scram-sha-256",
        "--auth-local=scram-sha-256",
        "--encoding=UTF8",
        "--no-locale",
        "--no-sync",
        "--no-instructions",
    ]
    uid, gid = account if account is not None else (None, None)
    try:
        with open(log_file, "ab") as log:
            done = subprocess.run(
                cmd, stdout=log, stderr=subprocess.STDOUT, user=uid, group=gid, timeout=timeout
            )
    except subprocess.TimeoutExpired:
        raise ServiceStartError(
            f"initdb took over {timeout:g} s; {log_file}:\n{log_tail(log_file)}"
        ) from None
    finally:
        password_file.unlink()
    if done.returncode != 0:
        raise ServiceStartError(f"initdb failed ({done.returncode}); {log_file}:\n{log_tail(log_file)}")
    return data_dir


@contextmanager
def postgres_server(
    work_dir: Path, *, user: str = "t2i", database: str = "t2i", timeout: float = 30.0
) -> Iterator[PostgresServer]:
    """A fresh cluster on 127.0.0.1 (TCP, password auth) with a login role `user` owning the database
    `database`; stopped and, if it had to live outside `work_dir`, removed after. Its log is
    `work_dir/postgres.log`."""
    import psycopg
    from psycopg import sql

    started = time.monotonic()
    work_dir.mkdir(parents=True, exist_ok=True)
    bin_dir = postgres_bin_dir()
    account = server_account()
    log_file = work_dir / "postgres.log"
    cluster, private = _cluster_dir(work_dir, account)
    try:
        superuser_password = secrets.token_urlsafe(16)
        data_dir = _initdb(bin_dir, cluster, superuser_password, account, log_file, timeout)
        port = free_port()
        cmd = [
            str(bin_dir / "postgres"),
            "-D", str(data_dir),
            "-p", str(port),
            "-c", f"listen_addresses={HOST}",
            "-c", f"unix_socket_directories={cluster}",
            # Durability buys nothing in a throwaway cluster and costs fsyncs on every commit.
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
        ]  # fmt: skip
        process = start_server(cmd, log_file, stop_signal=STOP_SIGNAL, cwd=cluster, account=account)
        try:

            def superuser_connection() -> psycopg.Connection:
                return psycopg.connect(
                    host=HOST,
                    port=port,
                    user=SUPERUSER,
                    password=superuser_password,
                    dbname="postgres",
                    connect_timeout=2,
                    autocommit=True,
                )

            def accepts_connections() -> str | None:
                try:
                    superuser_connection().close()
                except psycopg.OperationalError as exc:  # not listening yet, or still starting up
                    return str(exc).strip()
                return None

            wait_ready("postgres", process, log_file, accepts_connections, timeout)
            password = secrets.token_urlsafe(16)
            with superuser_connection() as connection:
                connection.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(user), sql.Literal(password)
                    )
                )
                connection.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(user)
                    )
                )
            server = PostgresServer(
                port, user, password, database, data_dir, log_file, process.pid, time.monotonic() - started
            )
            logger.info("postgres on %s:%d, ready in %.2f s", HOST, port, server.startup_s)
            yield server
        finally:
            stop_server(process, STOP_SIGNAL)
    finally:
        if private:
            shutil.rmtree(cluster, ignore_errors=True)
