"""The frontend killed with SIGKILL while writing loses nothing it answered and leaves no half file;
SIGTERM lets in-flight requests finish, refuses new ones, then exits. Keys never reach the logs."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from t2i.triton_server import TritonServer
from testbed.frontend import create_key, free_port, frontend_process, wait_healthy

pytestmark = pytest.mark.e2e


def test_sigkill_while_writing_loses_nothing_answered(triton_server: TritonServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    answered: list[str] = []
    with frontend_process(triton_server.url, port, data_dir) as frontend:

        def client() -> None:
            with httpx.Client(base_url=url, timeout=30) as http:
                for i in range(40):
                    try:
                        response = http.post("/images/tti", json={"prompt": f"x {i}", "size": "1024x1024"})
                    except httpx.HTTPError:
                        return  # the server died under us
                    if response.status_code == 200:
                        answered.append(response.headers["x-image-id"])

        workers = [threading.Thread(target=client) for _ in range(3)]
        for worker in workers:
            worker.start()
        time.sleep(4)
        frontend.send_signal(signal.SIGKILL)
        for worker in workers:
            worker.join(30)
    assert answered, "no request completed before the kill"

    rows = sqlite3.connect(data_dir / "t2i.sqlite3").execute("SELECT id, format FROM images").fetchall()
    files = {p.name for p in (data_dir / "images").iterdir() if not p.name.startswith(".tmp-")}
    # Every row points at a complete image; every answered image has its row.
    for image_id, image_format in rows:
        assert f"{image_id}.{image_format}" in files
        Image.open(data_dir / "images" / f"{image_id}.{image_format}").verify()
    assert set(answered) <= {image_id for image_id, _ in rows}

    # After a restart on the same data the answered images are served; temp files never are.
    with frontend_process(triton_server.url, port, data_dir), httpx.Client(base_url=url) as http:
        for image_id in answered:
            image = http.get(f"/images/{image_id}")
            assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size == (1024, 1024)
        assert http.get("/images/.tmp-anything").status_code == 404
    assert not [p for p in (data_dir / "images").iterdir() if p.name.startswith(".tmp-")]


def test_sigterm_finishes_in_flight_then_exits(triton_server: TritonServer, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, T2I_DATA_DIR=str(tmp_path / "data"))
    process = subprocess.Popen(
        [sys.executable, "-m", "frontend", "--triton-url", triton_server.url, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(process, url)
        result: dict[str, int] = {}
        slow = {"prompt": "x", "size": "1024x1024", "steps": 60, "response_format": "b64_json"}
        worker = threading.Thread(
            target=lambda: result.update(
                status=httpx.post(f"{url}/v1/images/generations", json=slow, timeout=120).status_code
            )
        )
        worker.start()
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{url}/v1/images/generations", json={"prompt": "late"}, timeout=5)
        worker.join(120)
        assert result["status"] == 200  # the in-flight request was finished, not dropped
        # uvicorn re-raises the signal after its graceful shutdown, so the exit status says SIGTERM.
        assert process.wait(60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()


def test_keys_never_reach_the_logs(triton_server: TritonServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = dict(os.environ, T2I_DATA_DIR=str(data_dir))
    secret = create_key(env, "logged?")
    port = free_port()
    with frontend_process(triton_server.url, port, data_dir):
        headers = {"Authorization": f"Bearer {secret}"}
        httpx.post(
            f"http://127.0.0.1:{port}/v1/generate-image", json={"prompt": "x"}, headers=headers, timeout=60
        )
        httpx.get(f"http://127.0.0.1:{port}/v1/usage", headers={"Authorization": f"Bearer {secret}x"})
    log = (data_dir / "frontend.log").read_text()
    assert "POST /v1/generate-image" in log  # the log is there and has the requests
    assert secret not in log and secret[4:] not in log
