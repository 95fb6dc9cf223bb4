"""/readyz reports each dependency (database, blob store, Redis when configured, each Triton server) and
answers 503, naming what is down, while any of them is not ready."""

from __future__ import annotations

from pathlib import Path

from testbed.process import free_port
from tests.unit.conftest import FakeTriton, make_client


def test_ready_reports_every_dependency(tmp_path: Path, triton: FakeTriton) -> None:
    with make_client(tmp_path, triton) as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    # No T2I_REDIS_URL: nothing shared to report.
    assert response.json() == {
        "status": "ready",
        "database": "ready",
        "blob_store": "ready",
        "triton": {"fake-triton:8001": "ready"},
        "models": {"tiny": ["fake-triton:8001"]},
    }


def test_an_unwritable_blob_store_is_not_ready(tmp_path: Path, triton: FakeTriton) -> None:
    with make_client(tmp_path, triton) as client:
        (tmp_path / "images").rmdir()
        (tmp_path / "images").write_text("not a directory")
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "not ready: blob_store unavailable"


def test_a_redis_nobody_answers_on_is_not_ready(tmp_path: Path, triton: FakeTriton) -> None:
    with make_client(tmp_path, triton, redis_url=f"redis://127.0.0.1:{free_port()}/0") as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["error"]["message"] == "not ready: redis unavailable"


def test_no_ready_triton_is_not_ready(tmp_path: Path, triton: FakeTriton) -> None:
    triton.error = RuntimeError("down")
    with make_client(tmp_path, triton) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "triton" in response.json()["error"]["message"]
