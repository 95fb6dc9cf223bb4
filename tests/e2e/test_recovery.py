"""The embedded launcher (`python -m frontend` without a Triton URL, as `make serve` runs it): Triton
killed mid-request answers 503 quickly, readiness drops, and the launcher brings Triton back while the
frontend keeps running."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from testbed.frontend import frontend_process, poll_until_ok
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e


def triton_processes(model_repository: Path) -> list[psutil.Process]:
    """tritonserver and its Python-backend stubs serving `model_repository`."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(str(model_repository) in part for part in cmdline[1:]) and (
            process.info["name"] == "tritonserver" or cmdline[0].endswith("triton_python_backend_stub")
        ):
            found.append(process)
    return found


def wait_ready(url: str, timeout: float) -> bool:
    return poll_until_ok(f"{url}/readyz", timeout)


def test_triton_killed_mid_request_then_restarted(tiny_repository: Path, tmp_path: Path) -> None:
    # A copy of its own, so that the processes serving it are this test's alone (the session's Triton
    # serves the shared one).
    repository = shutil.copytree(tiny_repository, tmp_path / "model_repository")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ("--model-repository", str(repository), "--triton-grpc-port", str(free_port()))
    with frontend_process(None, port, tmp_path / "data", extra_args=args, timeout=180) as frontend:
        assert wait_ready(url, 30)
        (triton,) = [p for p in psutil.Process(frontend.pid).children() if p.name() == "tritonserver"]

        outcome: dict[str, object] = {}

        def slow_request() -> None:
            started = time.monotonic()
            body = {"prompt": "x", "size": "1024x1024", "steps": 150, "response_format": "b64_json"}
            response = httpx.post(f"{url}/v1/images/generations", json=body, timeout=120)
            outcome["status"], outcome["seconds"] = response.status_code, time.monotonic() - started
            outcome["body"] = response.json()

        worker = threading.Thread(target=slow_request)
        worker.start()
        time.sleep(1.5)  # the request is inside Triton now
        os.kill(triton.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        worker.join(60)
        assert outcome["status"] == 503, outcome
        assert outcome["body"]["error"]["code"] == "backend_unavailable"  # type: ignore[index]
        assert time.monotonic() - killed_at < 10  # answered promptly, no hang

        down = httpx.post(f"{url}/v1/images/generations", json={"prompt": "x", "steps": 1})
        assert down.status_code == 503 and down.headers["retry-after"]
        assert httpx.get(f"{url}/healthz").status_code == 200

        # The launcher restarts Triton; the same frontend process serves again.
        assert wait_ready(url, 120)
        again = httpx.post(f"{url}/v1/images/generations", json={"prompt": "x", "steps": 1}, timeout=60)
        assert again.status_code == 200
        assert frontend.poll() is None
        # The dead server's stubs were cleaned up: every stub left belongs to the live tritonserver.
        (live,) = [p for p in psutil.Process(frontend.pid).children() if p.name() == "tritonserver"]
        assert all(p.ppid() == live.pid for p in triton_processes(repository) if p.pid != live.pid)
    # Stopping the frontend stopped its Triton too.
    deadline = time.monotonic() + 30
    while triton_processes(repository) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert triton_processes(repository) == []
