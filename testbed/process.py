"""What the service launchers share: free loopback ports, a server process in its own session with its
log in a file, a readiness loop that notices an early exit, and a bounded stop."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
# What a server gets to stop by itself before it is killed.
STOP_TIMEOUT_S = 10.0


class ServiceStartError(RuntimeError):
    pass


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    try:
        with socket.socket() as sock:
            sock.bind((HOST, port))
    except OSError:
        return False
    return True


def port_is_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((HOST, port)) == 0


def log_tail(log_file: Path, size: int = 4000) -> str:
    try:
        return log_file.read_text(errors="replace")[-size:]
    except OSError as exc:
        return f"(no log: {exc})"


def _parent_death_signal(sig: int) -> Callable[[], None]:
    """In the child before exec: `sig` to the server if its launcher dies, even by SIGKILL (Linux).
    Popen's preexec_fn runs after its setuid, which would otherwise clear the setting."""

    def preexec() -> None:
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # 1 = PR_SET_PDEATHSIG

    return preexec


def start_server(
    cmd: list[str],
    log_file: Path,
    *,
    stop_signal: int = signal.SIGTERM,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    account: tuple[int, int] | None = None,
) -> subprocess.Popen:
    """`cmd` in a session of its own (so that stopping it reaches every process it forks), as
    `account` (uid, gid) if given, its stdout and stderr appended to `log_file`."""
    uid, gid = account if account is not None else (None, None)
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            user=uid,
            group=gid,
            extra_groups=[] if account is not None else None,
            start_new_session=True,
            preexec_fn=_parent_death_signal(stop_signal) if sys.platform == "linux" else None,
        )


def wait_ready(
    name: str, process: subprocess.Popen, log_file: Path, probe: Callable[[], str | None], timeout: float
) -> None:
    """Call `probe` (None: ready; otherwise why not yet) until it succeeds; fail early if the process
    died, or after `timeout`, with the log's tail."""
    deadline = time.monotonic() + timeout
    reason: str | None = "not probed"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceStartError(
                f"{name} exited with code {process.returncode} before it was ready; "
                f"{log_file}:\n{log_tail(log_file)}"
            )
        reason = probe()
        if reason is None:
            return
        time.sleep(0.05)
    raise ServiceStartError(
        f"{name} not ready after {timeout:g} s ({reason}); {log_file}:\n{log_tail(log_file)}"
    )


def stop_server(process: subprocess.Popen, stop_signal: int = signal.SIGTERM) -> None:
    """`stop_signal`, a bounded wait, then SIGKILL; then SIGKILL to whatever is left in its process
    group (a postgres backend whose postmaster was killed, say)."""
    if process.poll() is None:
        process.send_signal(stop_signal)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            logger.warning("pid %d did not stop in %.0f s: killing it", process.pid, STOP_TIMEOUT_S)
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
