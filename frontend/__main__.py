"""`python -m frontend`: serve the APIs, starting the embedded tritonserver unless T2I_TRITON_URL is set."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from frontend.app import create_app
from frontend.settings import Settings, is_loopback
from frontend.storage.blobs import blob_store_location
from frontend.storage.database import DatabaseOpenError, open_database
from frontend.storage.keys import KeyStore
from frontend.triton.pool import check_urls, parse_urls
from t2i.triton_server import TritonServer, TritonStartError

logger = logging.getLogger("frontend")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frontend", description=__doc__)
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8000)")
    parser.add_argument("--triton-url", help="gRPC host:port of an external Triton; default: embedded")
    parser.add_argument("--triton-grpc-port", type=int, help="gRPC port of the embedded Triton (8001)")
    parser.add_argument("--model-repository", type=Path, help="model repository of the embedded Triton")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = Settings(**overrides)

    try:
        # Every URL setting before anything starts: a bad one is one line here, not a traceback later.
        blob_store_location(settings)
        if settings.triton_url is not None:
            check_urls(parse_urls(settings.triton_url))
        db = open_database(settings.data_dir, settings.database_url)
    except (ValueError, DatabaseOpenError) as exc:
        logger.error("%s", exc)
        return 2
    has_keys = KeyStore(db).has_keys()
    db.close()
    if not has_keys:
        # Open mode (no key needed) is only safe where nobody else can connect.
        if not is_loopback(settings.host):
            logger.error(
                "no API keys were created: refusing to serve open on non-loopback address %s; "
                "create one with `python -m frontend.keys create --name NAME`",
                settings.host,
            )
            return 2
        logger.warning("no API keys were created: OPEN MODE, anyone on %s may call the API", settings.host)

    triton = None
    if settings.triton_url is None:
        log_file = settings.data_dir.parent / "triton.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        triton = TritonServer(settings.model_repository, settings.triton_grpc_port, log_file=log_file)
        logger.info("starting the embedded tritonserver (log: %s)", log_file)
        try:
            triton.start()
            triton.wait_ready()
        except TritonStartError as exc:
            logger.error("%s (see %s)", exc, log_file)
            triton.stop()
            return 1
        triton.supervise()
    try:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    finally:
        if triton is not None:
            logger.info("stopping the embedded tritonserver")
            triton.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
