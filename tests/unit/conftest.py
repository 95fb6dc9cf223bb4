"""A fake Triton client for the unit tier (the end-to-end tier uses the real tritonserver)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from frontend.app import create_app
from frontend.settings import Settings
from frontend.triton.client import PreviewCallback
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest

TINY = ModelMetadata("tiny", 256, 256, 16, 4, 8, 0.18215, 32, 77, 20, 40, 7.5)


class FakeTriton:
    """Records requests; image i is filled with (seed + i) % 256 so tests can tell images apart."""

    def __init__(self) -> None:
        self.requests: list[GenerationRequest] = []
        self.error: Exception | None = None

    async def metadata(self) -> ModelMetadata:
        return TINY

    async def readiness(self) -> dict[str, bool]:
        return {"fake-triton:8001": self.error is None}

    async def is_ready(self) -> bool:
        return self.error is None

    async def generate(
        self, request: GenerationRequest, timeout_s: float, on_preview: PreviewCallback | None = None
    ) -> np.ndarray:
        if self.error:
            raise self.error
        self.requests.append(request)
        images = np.empty((request.num_images, request.height, request.width, 3), dtype=np.uint8)
        for i in range(request.num_images):
            images[i] = (request.seed + i) % 256
        for partial_index in range(request.partial_images if on_preview else 0):
            await on_preview(partial_index, images // 2)  # type: ignore[misc]
        return images

    async def close(self) -> None:
        pass


@pytest.fixture
def triton() -> FakeTriton:
    return FakeTriton()


def make_client(tmp_path: Path, triton: FakeTriton, **settings: object) -> TestClient:
    app = create_app(Settings(data_dir=tmp_path, url_secret="s" * 32, **settings), triton=triton)  # type: ignore[arg-type]
    return TestClient(app, base_url="http://127.0.0.1:8000")


@pytest.fixture
def client(tmp_path: Path, triton: FakeTriton) -> Iterator[TestClient]:
    with make_client(tmp_path, triton) as test_client:
        yield test_client
