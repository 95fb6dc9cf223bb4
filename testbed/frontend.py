"""Run the frontend as its own process and wait until it answers (tests and benchmarks use this).

`free_port` is re-exported: the tests and benchmarks that start a frontend pick its port with it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from testbed.process import free_port

__all__ = [
    "create_key",
    "free_port",
    "frontend_process",
    "keys_cli",
    "poll_until_ok",
    "served_models",
    "wait_healthy",
]


def served_models(url: str, timeout: float = 10.0) -> list[str]:
    """The served models GET /v1/models lists, in its order: the cards that are their own root (the
    others are aliases)."""
    cards = httpx.get(f"{url}/v1/models", timeout=timeout).json()["data"]
    return [card["id"] for card in cards if card["id"] == card["root"]]


def poll_until_ok(url: str, timeout: float, process: subprocess.Popen | None = None) -> bool:
    """GET `url` until it answers 200 (True) or `timeout` passes (False); fail early if `process` died."""
    deadline = time.monotonic() + timeout
    # One client for every poll: a new one per request costs ~20 ms of CPU, which a 2-core start feels.
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"frontend exited with code {process.returncode}")
            try:
                if client.get(url).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    return False


def wait_healthy(process: subprocess.Popen, url: str, timeout: float = 60.0) -> None:
    """Poll /healthz; fail early if the process died."""
    if not poll_until_ok(f"{url}/healthz", timeout, process):
        raise RuntimeError(f"frontend not healthy after {timeout} s")


@contextmanager
def frontend_process(
    triton_url: str | None,
    port: int,
    data_dir: Path,
    settings: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 60.0,
) -> Iterator[subprocess.Popen]:
    """`python -m frontend` on 127.0.0.1:port against `triton_url` (None: its embedded Triton, configured
    by `extra_args`); yields the process once /healthz answers; stops it after (terminate, wait, kill)."""
    env = dict(os.environ, T2I_DATA_DIR=str(data_dir), **(settings or {}))
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "frontend.log", "wb") as log:
        triton = ["--triton-url", triton_url] if triton_url else []
        process = subprocess.Popen(
            [sys.executable, "-m", "frontend", *triton, "--port", str(port), *extra_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(process, f"http://127.0.0.1:{port}", timeout)
            yield process
        finally:
            process.terminate()
            try:
                # Long enough for an embedded Triton to unload its models behind the frontend.
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def keys_cli(settings: dict[str, str], *args: str) -> str:
    """`python -m frontend.keys ARGS` with `settings` over this environment; its standard output."""
    return subprocess.run(
        [sys.executable, "-m", "frontend.keys", *args],
        env=dict(os.environ, **settings),
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def create_key(settings: dict[str, str], name: str) -> str:
    """A new key through the documented CLI, which prints the secret once, on its last line."""
    return keys_cli(settings, "create", "--name", name).strip().splitlines()[-1]
