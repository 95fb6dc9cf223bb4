"""One more Triton server on a free loopback port, for the tests and tools that run several."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from t2i.triton_server import TritonServer
from testbed.process import free_port


@contextmanager
def triton_on_a_copy(model_repository: Path, work_dir: Path) -> Iterator[TritonServer]:
    """tritonserver on a copy of `model_repository` in `work_dir` (each server gets its own: the Python
    backend writes beside its models), yielded once ready, stopped after."""
    repository = shutil.copytree(model_repository, work_dir / "model_repository")
    server = TritonServer(repository, free_port(), work_dir=work_dir, log_file=work_dir / "triton.log")
    try:
        server.start()
        server.wait_ready()
        yield server
    finally:
        server.stop()
