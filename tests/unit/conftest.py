"""A fake Triton client for the unit tier (the end-to-end tier uses the real tritonserver), and the databases
the storage tests run on."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text

from frontend.app import create_app
from frontend.settings import Settings
from frontend.storage.database import Database, create_database_engine, open_database, parse_database_url
from frontend.triton.client import PreviewCallback
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest
from testbed.services import postgres_server

TINY = ModelMetadata("tiny", 256, 256, 16, 4, 8, 0.18215, 32, 77, 20, 40, 7.5)


class FakeTriton:
    """Records requests; image i is filled with (seed + i) % 256 so tests can tell images apart."""

    def __init__(self, *models: ModelMetadata) -> None:
        self.requests: list[GenerationRequest] = []
        self.error: Exception | None = None
        self.models = {m.name: m for m in models or (TINY,)}
        self.serving: dict[str, list[str]] = {}

    async def catalogue(self) -> dict[str, ModelMetadata]:
        self.serving = {name: ["fake-triton:8001"] for name in self.models}
        return dict(self.models)

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


# --- databases: the embedded SQLite file, and a real PostgreSQL ---------------------------------------------


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """T2I_TEST_DATABASE_URL (a PostgreSQL database of yours these tests may create schemas in), else a
    real server started once for the session on a loopback port (testbed/services.py)."""
    if os.environ.get("T2I_TEST_DATABASE_URL"):
        yield os.environ["T2I_TEST_DATABASE_URL"]
        return
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server.url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A URL into a fresh schema of that database (dropped after the test), so tests neither see nor
    leave rows of their own."""
    schema = f"t2i_test_{uuid.uuid4().hex[:12]}"
    admin = create_database_engine(parse_database_url(postgres_server_url, Path()))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(postgres_server_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """T2I_DATABASE_URL for each backend: None (the embedded SQLite file in the data directory), then a
    schema of a real PostgreSQL."""
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")


@pytest.fixture
def database(tmp_path: Path, database_url: str | None) -> Iterator[Database]:
    db = open_database(tmp_path, database_url)
    yield db
    db.close()
