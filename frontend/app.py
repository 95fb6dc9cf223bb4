"""The FastAPI application: one router per API family, shared objects created in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from frontend import system
from frontend.errors import install_error_handlers
from frontend.generation import ImageGenerator
from frontend.image_store import ImageStore
from frontend.openai_api.router import router as openai_router
from frontend.settings import Settings
from frontend.triton_client import TritonPipelineClient

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, triton: TritonPipelineClient | None = None) -> FastAPI:
    """`triton` replaces the gRPC client in unit tests; served apps always build the real one."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        triton_url = settings.triton_url or f"127.0.0.1:{settings.triton_grpc_port}"
        app.state.settings = settings
        app.state.triton = triton or TritonPipelineClient(triton_url)
        app.state.store = ImageStore(settings.data_dir)
        app.state.generator = ImageGenerator(app.state.triton, app.state.store, settings.request_timeout_s)
        logger.info("frontend using Triton at %s, data in %s", triton_url, settings.data_dir)
        yield
        await app.state.triton.close()
        app.state.store.close()

    app = FastAPI(
        title="t2i-triton",
        summary="Text-to-image on NVIDIA Triton Inference Server, with OpenAI-compatible APIs",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(openai_router)
    app.include_router(system.router)
    return app
