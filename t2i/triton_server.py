"""Run the tritonserver binary that ships in the nvidia-pytriton wheel on a model repository.

That build has only the Python backend. Two things make it work from a virtual environment: the backend
stub matching this interpreter must sit in `<backend dir>/python/`, and the stub must load this
interpreter's libpython (its LIBDIR first on LD_LIBRARY_PATH; otherwise it may pick the system's libpython
of another patch release and fail on `ssl` imports), with this environment's packages on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

import tritonclient.grpc as grpcclient

from t2i import contract

logger = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


# gRPC channel options for clients of a Triton that may be starting or restarting: without them the
# channel's reconnect backoff grows while the models load and readiness is noticed seconds late.
FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


class TritonStartError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM tritonserver if its launcher dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def kill_orphaned_stubs(model_repository: Path) -> int:
    """Python-backend stubs left behind by a tritonserver that was killed (they are reparented to init
    and do not notice); they hold memory and shared-memory regions. Returns how many were killed."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        is_stub = args[0].endswith(b"triton_python_backend_stub")
        if is_stub and parent == 1 and any(str(model_repository).encode() in a for a in args[1:]):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


def pytriton_dir() -> Path:
    import pytriton

    return Path(pytriton.__file__).resolve().parent / "tritonserver"


def prepare_backend_dir(target: Path) -> Path:
    """Assemble `<target>/python/` from the wheel's Python backend and this interpreter's stub."""
    source = pytriton_dir()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = source / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise TritonStartError(f"nvidia-pytriton has no Python backend stub for Python {version}")
    python_dir = target / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    files = [item for item in (source / "backends" / "python").iterdir() if item.is_file()] + [stub]
    for item in files:
        # Copy then rename: the stub binary may still be running (a Triton that was just killed leaves
        # its stubs behind for a moment), and overwriting a running executable fails with ETXTBSY.
        tmp = python_dir / f".{item.name}.tmp"
        shutil.copy2(item, tmp)
        os.replace(tmp, python_dir / item.name)
    return target


def server_environment() -> dict[str, str]:
    env = dict(os.environ)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    # The stub finds the wheel's bundled libraries through an RPATH relative to its original location.
    bundled = pytriton_dir().parent.parent / "nvidia_pytriton.libs"
    paths = (libdir, str(bundled), env.get("LD_LIBRARY_PATH", ""))
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in paths if p)
    site_packages = sysconfig.get_paths()["purelib"]
    python_paths = [str(PROJECT_ROOT), site_packages, env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in python_paths if p)
    return env


class TritonServer:
    """One tritonserver process: start, wait for the pipeline model, stop (terminate, wait, kill)."""

    def __init__(
        self,
        model_repository: Path,
        grpc_port: int = 8001,
        metrics_port: int | None = None,
        work_dir: Path = PROJECT_ROOT / "var",
        log_file: Path | None = None,
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
    ):
        self.model_repository = model_repository.resolve()
        self.env = env or {}
        self.extra_args = extra_args  # more tritonserver flags, e.g. --model-control-mode=explicit
        self.grpc_port = grpc_port
        self.metrics_port = metrics_port
        self.work_dir = work_dir
        self.log_file = log_file
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def command(self) -> list[str]:
        backends = prepare_backend_dir(self.work_dir / "triton_backends")
        cmd = [
            str(pytriton_dir() / "bin" / "tritonserver"),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={backends}",
            f"--grpc-port={self.grpc_port}",
            "--grpc-address=127.0.0.1",
            "--allow-http=false",
            "--log-verbose=0",
            # Every config.pbtxt is complete (export writes them); auto-completion would start each
            # Python model's stub twice, importing torch and diffusers twice for the pipeline.
            "--disable-auto-complete-config",
            # Room for latents and images in one shared-memory region without repeated growth.
            "--backend-config=python,shm-default-byte-size=16777216",
            "--backend-config=python,shm-growth-byte-size=16777216",
        ]
        cmd += self.extra_args
        if self.metrics_port is None:
            cmd.append("--allow-metrics=false")
        else:
            cmd += [f"--metrics-port={self.metrics_port}", "--metrics-address=127.0.0.1"]
        return cmd

    def start(self) -> None:
        if not (self.model_repository / contract.PIPELINE.name / "config.pbtxt").is_file():
            raise TritonStartError(
                f"{self.model_repository} has no exported model: run `make model` "
                "(or `python -m export --model models/shapes`) first"
            )
        if contract.is_pre_catalogue(self.model_repository):
            raise TritonStartError(contract.PRE_CATALOGUE_MESSAGE.format(repository=self.model_repository))
        out = open(self.log_file, "ab") if self.log_file else None  # noqa: SIM115 - owned by the process
        logger.info("starting tritonserver on %s", self.url)
        self.process = subprocess.Popen(
            self.command(),
            env=server_environment() | self.env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        if out is not None:
            out.close()  # the child holds its own descriptor

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Poll until the pipeline model is ready; fail early if the process died."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        client = grpcclient.InferenceServerClient(self.url, channel_args=FAST_RECONNECT)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise TritonStartError(f"tritonserver exited with code {self.process.returncode}")
                try:
                    if client.is_model_ready(contract.PIPELINE.name):
                        logger.info("tritonserver ready on %s", self.url)
                        return
                except Exception:  # not listening yet
                    pass
                time.sleep(0.5)
        finally:
            client.close()
        raise TritonStartError(f"tritonserver not ready after {timeout:.0f} s")

    def supervise(self, max_backoff_s: float = 30.0) -> threading.Thread:
        """Restart tritonserver whenever it exits without stop() being called (crash, OOM kill), with
        exponential backoff, in a daemon thread. Clients see 503 meanwhile and recover by themselves."""

        def watch() -> None:
            backoff = 1.0
            while not self._stopping.is_set():
                assert self.process is not None
                self.process.wait()
                if self._stopping.is_set():
                    return
                logger.error("tritonserver exited with code %s; restarting", self.process.returncode)
                if orphans := kill_orphaned_stubs(self.model_repository):
                    logger.warning("killed %d Python-backend stubs left by the dead tritonserver", orphans)
                if self._stopping.wait(backoff):
                    return
                try:
                    self.start()
                    self.wait_ready()
                    self.restarts += 1
                    backoff = 1.0
                    logger.info("tritonserver is back (restart %d)", self.restarts)
                except Exception as exc:  # keep supervising whatever went wrong with this attempt
                    logger.error("restart failed: %s", exc)
                    backoff = min(backoff * 2, max_backoff_s)

        thread = threading.Thread(target=watch, name="triton-supervisor", daemon=True)
        thread.start()
        return thread

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("tritonserver did not stop in %.0f s; killing it", timeout)
            self.process.kill()
            self.process.wait()
        # A killed (or crashed-while-stopping) server leaves its stubs running, reparented to init.
        if orphans := kill_orphaned_stubs(self.model_repository):
            logger.warning("killed %d Python-backend stubs left by the stopped tritonserver", orphans)

    def __enter__(self) -> TritonServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the embedded tritonserver on a model repository")
    parser.add_argument("--model-repository", type=Path, default=PROJECT_ROOT / "model_repository")
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = TritonServer(args.model_repository, args.grpc_port, args.metrics_port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with server:
        try:
            assert server.process is not None
            server.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
