"""A short bounded load run through the real stack (the README's figures come from `make load`, 16
clients for 60 s): only 200/429/503, and every image answered 200 can be fetched back."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.load import run
from t2i.triton_server import TritonServer
from testbed.frontend import frontend_process
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e


def test_bounded_load_loses_nothing(triton_server: TritonServer, tmp_path: Path) -> None:
    port = free_port()
    # A low admission limit so that overload is exercised: the extra clients get 503 at once.
    settings = {"T2I_MAX_PENDING_GENERATIONS": "4", "T2I_RATE_LIMIT_PER_MINUTE": "0"}
    with frontend_process(triton_server.url, port, tmp_path / "data", settings):
        result = run(f"http://127.0.0.1:{port}", clients=8, seconds=10, key=None, max_requests=20)
    assert result["ok"], result
    assert result["images_answered"] > 0 and result["images_lost"] == 0
    assert result["statuses"].get(503, 0) > 0  # 8 clients against 4 admission slots
    assert set(result["statuses"]) <= {200, 503}
