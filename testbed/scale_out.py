"""`python -m testbed.scale_out`: the scaled-out deployment on one machine, to try it or to develop
against it. Real PostgreSQL, Redis and an S3-compatible store (SeaweedFS) on free loopback ports, two
Triton servers on the model repository, an API key made with the CLI, and two frontend replicas sharing
all of it on 127.0.0.1 (ports 8000 and 8001 by default). Ctrl-C stops everything."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
from contextlib import ExitStack, suppress
from pathlib import Path

from frontend.settings import PROJECT_ROOT
from t2i.triton_server import TritonServer
from testbed.frontend import create_key, free_port, frontend_process
from testbed.services import postgres_server, redis_server, s3_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.scale_out", description=__doc__)
    parser.add_argument("--model-repository", type=Path, default=PROJECT_ROOT / "model_repository")
    parser.add_argument("--ports", type=int, nargs=2, default=(8000, 8001), help="the replicas' HTTP ports")
    args = parser.parse_args(argv)
    if not (args.model_repository / "pipeline" / "config.pbtxt").exists():
        print(f"error: no model in {args.model_repository}: run `make model` first", file=sys.stderr)
        return 1

    work_dir = Path(tempfile.mkdtemp(prefix="t2i-scale-out-"))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
        print("starting PostgreSQL, Redis and SeaweedFS ...", flush=True)
        database = stack.enter_context(postgres_server(work_dir / "services"))
        redis = stack.enter_context(redis_server(work_dir / "services"))
        s3 = stack.enter_context(s3_server(work_dir / "services"))
        tritons = []
        for name in ("triton-a", "triton-b"):
            # Each server gets a copy: the Python backend writes beside its models.
            repository = shutil.copytree(args.model_repository, work_dir / name / "model_repository")
            server = TritonServer(
                repository, free_port(), work_dir=work_dir / name, log_file=work_dir / f"{name}.log"
            )
            print(f"starting {name} (log: {server.log_file}) ...", flush=True)
            server.start()
            stack.callback(server.stop)
            server.wait_ready()
            tritons.append(server)
        env = {
            **database.env(),
            **redis.env(),
            **s3.env(prefix="images"),
            "T2I_TRITON_URL": ",".join(server.url for server in tritons),
            "T2I_URL_SECRET": os.urandom(24).hex(),
        }
        key = create_key(env, "scale-out-demo")
        for index, port in enumerate(args.ports):
            replica_dir = work_dir / f"replica-{'ab'[index]}"
            stack.enter_context(frontend_process(env["T2I_TRITON_URL"], port, replica_dir, env))
            print(f"replica {'ab'[index]}: http://127.0.0.1:{port} (log: {replica_dir / 'frontend.log'})")
        print("\nshared settings (for `python -m frontend.keys` and more replicas):")
        for name, value in env.items():
            print(f"  export {name}='{value}'")
        print(f"\nAPI key: {key}\nCtrl-C stops everything.", flush=True)
        with suppress(KeyboardInterrupt):
            stopped.wait()
        print("stopping ...", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
