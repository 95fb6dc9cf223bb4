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
from testbed.frontend import create_key, frontend_process
from testbed.services import shared_state
from testbed.triton import triton_on_a_copy


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
        env = stack.enter_context(shared_state(work_dir / "services"))
        tritons = []
        for name in ("triton-a", "triton-b"):
            print(f"starting {name} (log: {work_dir / name / 'triton.log'}) ...", flush=True)
            tritons.append(stack.enter_context(triton_on_a_copy(args.model_repository, work_dir / name)))
        env["T2I_TRITON_URL"] = ",".join(server.url for server in tritons)
        env["T2I_URL_SECRET"] = os.urandom(24).hex()
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
