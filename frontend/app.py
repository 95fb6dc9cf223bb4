"""The FastAPI application: one router per API family, shared objects created in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from frontend.api import account, docs, system
from frontend.api.generate_image.router import router as generate_image_router
from frontend.api.openai.router import router as openai_router
from frontend.api.playground.router import router as playground_router
from frontend.api.tti.router import router as tti_router
from frontend.generation.admission import open_admission_gate
from frontend.generation.references import ReferenceLoader, ReferencePolicy
from frontend.generation.service import ImageGenerator
from frontend.http.body_limit import install_body_limit
from frontend.http.errors import ERROR_RESPONSES, install_error_handlers
from frontend.http.metrics import Metrics
from frontend.security.moderation import PromptModerator
from frontend.security.rate_limit import RateLimiter
from frontend.settings import Settings
from frontend.storage.blobs import open_blob_store
from frontend.storage.database import open_database
from frontend.storage.images import image_store
from frontend.storage.keys import KeyStore
from frontend.storage.usage import UsageStore
from frontend.triton.pool import TritonPool, parse_urls

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, triton: TritonPool | None = None) -> FastAPI:
    """`triton` replaces the gRPC client in unit tests; served apps always build the real one."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        triton_url = settings.triton_url or f"127.0.0.1:{settings.triton_grpc_port}"
        blobs = open_blob_store(settings)  # first: a bad T2I_BLOB_STORE_URL fails before anything opens
        db = open_database(settings.data_dir, settings.database_url)
        store = image_store(db, blobs)
        app.state.settings = settings
        app.state.metrics = metrics
        app.state.triton = triton or TritonPool(parse_urls(triton_url))
        app.state.database = db
        app.state.store = store
        app.state.keys = KeyStore(db)
        app.state.usage = UsageStore(db)
        app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.redis_url)
        app.state.admission = open_admission_gate(settings)
        policy = ReferencePolicy(
            max_bytes=settings.reference_max_bytes,
            timeout_s=settings.reference_timeout_s,
            allowed_hosts=frozenset(h.lower() for h in settings.reference_allowed_hosts),
        )
        app.state.generator = ImageGenerator(
            app.state.triton,
            store,
            app.state.usage,
            PromptModerator.from_file(),
            ReferenceLoader(policy, store.read_owned),
            metrics,
            settings,
            app.state.admission,
        )
        mode = "API keys required" if app.state.keys.has_keys() else "open mode (no API keys exist)"
        logger.info(
            "frontend using Triton at %s, database %s, data in %s, %s",
            triton_url,
            db.description,
            settings.data_dir,
            mode,
        )
        yield
        await app.state.triton.close()
        await app.state.admission.close()
        db.close()

    app = FastAPI(
        title="t2i-triton",
        summary="Text-to-image on NVIDIA Triton Inference Server, with OpenAI-compatible APIs",
        version="0.1.0",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        docs_url=None,  # served by frontend.api.docs, with their assets: they work offline
        redoc_url=None,
    )
    install_error_handlers(app)
    install_body_limit(app, settings.max_body_bytes)
    metrics.install(app)
    app.include_router(openai_router)
    app.include_router(tti_router)
    app.include_router(generate_image_router)
    app.include_router(account.router)
    app.include_router(system.router)
    app.include_router(docs.router)
    app.include_router(playground_router)
    return app
