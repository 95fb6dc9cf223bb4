"""The scaled-out deployment for real: two frontend replicas sharing a real PostgreSQL, Redis and
S3-compatible store (SeaweedFS), over two real Triton servers, all on loopback. A key made with the CLI
works on both replicas; an image made on one is served by the other; the rate limit is one budget; /readyz
reports every dependency; killing a replica or a Triton loses no answered image."""

from __future__ import annotations

import base64
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from openai import OpenAI

from t2i.triton_server import TritonServer
from testbed.frontend import create_key, free_port, frontend_process, keys_cli
from testbed.services import shared_state
from testbed.triton import triton_on_a_copy
from tests.e2e.conftest import URL_SECRET

pytestmark = pytest.mark.e2e
RATE_LIMIT = 6  # generation requests per key per minute, shared by the replicas
QUICK = {"prompt": "a red circle", "size": "256x256", "steps": 1}


@dataclass
class Deployment:
    env: dict[str, str]  # what every replica and the key CLI are configured with
    replicas: list[str]  # the frontends' base URLs
    tritons: list[TritonServer]
    work_dir: Path

    def key(self, name: str) -> str:
        return create_key(self.env, name)

    def keys_cli(self, *args: str) -> str:
        return keys_cli(self.env, *args)


@pytest.fixture(scope="module")
def deployment(
    triton_server: TritonServer, tiny_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    work_dir = tmp_path_factory.mktemp("scale_out")
    with (
        shared_state(work_dir / "services") as shared,
        triton_on_a_copy(tiny_repository, work_dir / "triton") as second,
    ):
        env = {
            **shared,
            "T2I_TRITON_URL": f"{triton_server.url},{second.url}",
            "T2I_URL_SECRET": URL_SECRET,
            "T2I_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
        }
        # The first key is made before any replica starts: a replica refuses open mode only on
        # non-loopback addresses, and these tests want keys required, as in a real deployment.
        create_key(env, "admin")
        ports = [free_port(), free_port()]
        with (
            frontend_process(env["T2I_TRITON_URL"], ports[0], work_dir / "replica-a", env),
            frontend_process(env["T2I_TRITON_URL"], ports[1], work_dir / "replica-b", env),
        ):
            yield Deployment(
                env, [f"http://127.0.0.1:{port}" for port in ports], [triton_server, second], work_dir
            )


def client_for(base_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def test_a_key_made_with_the_cli_works_on_every_replica_and_revoking_it_too(deployment: Deployment) -> None:
    output = deployment.keys_cli("create", "--name", "carol")
    key = output.strip().splitlines()[-1]
    key_id = output.split()[2]  # "created key <id> (carol); ..."
    for url in deployment.replicas:
        with client_for(url, key) as client:
            assert client.get("/v1/usage").status_code == 200
        with client_for(url, "t2i-not-a-key") as client:
            assert client.get("/v1/usage").status_code == 401
    assert "carol" in deployment.keys_cli("list")
    deployment.keys_cli("revoke", key_id)
    for url in deployment.replicas:
        with client_for(url, key) as client:
            response = client.get("/v1/usage")
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_api_key"


def test_an_image_made_on_one_replica_is_served_by_the_other(deployment: Deployment) -> None:
    key = deployment.key("dave")
    first, second = deployment.replicas
    sdk = OpenAI(base_url=f"{first}/v1", api_key=key, max_retries=0)
    result = sdk.images.generate(prompt="a blue square", size="256x256", extra_body={"steps": 1, "seed": 3})
    link = urlsplit(result.data[0].url)
    assert f"{link.scheme}://{link.netloc}" == first
    image_id = link.path.removeprefix("/files/").split(".")[0]

    with client_for(first, key) as on_first, client_for(second, key) as on_second:
        original = on_first.get(f"/images/{image_id}").content
        # The signed link, on the other replica (the URL secret is shared; the bytes are in S3).
        signed = httpx.get(f"{second}{link.path}?{link.query}", timeout=30)
        assert signed.status_code == 200
        assert signed.content == original
        assert on_second.get(f"/images/{image_id}").content == original
        # The usage row went to the shared database.
        usage = on_second.get("/v1/usage").json()
        assert usage["totals"]["requests"] == 1
        assert usage["data"][0]["image_size"] == "256x256"
    # Someone else's key still gets a 404 for it on either replica.
    other = deployment.key("erin")
    for url in deployment.replicas:
        with client_for(url, other) as client:
            assert client.get(f"/images/{image_id}").status_code == 404


def test_the_rate_limit_is_one_budget_across_replicas(deployment: Deployment) -> None:
    key = deployment.key("frank")
    clients = [client_for(url, key) for url in deployment.replicas]
    try:
        for i in range(RATE_LIMIT):
            response = clients[i % 2].post("/v1/images/generations", json=QUICK)
            assert response.status_code == 200, response.text
        for client in clients:
            refused = client.post("/v1/images/generations", json=QUICK)
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "rate_limit_exceeded"
            assert 1 <= int(refused.headers["retry-after"]) <= 60
    finally:
        for client in clients:
            client.close()
    # Another key has its own budget.
    with client_for(deployment.replicas[1], deployment.key("grace")) as client:
        assert client.post("/v1/images/generations", json=QUICK).status_code == 200


def test_readyz_reports_every_dependency(deployment: Deployment) -> None:
    tritons = {server.url: "ready" for server in deployment.tritons}
    for url in deployment.replicas:
        body = httpx.get(f"{url}/readyz", timeout=30).json()
        assert body == {
            "status": "ready",
            "database": "ready",
            "blob_store": "ready",
            "redis": "ready",
            "triton": tritons,
            "models": {"tiny": list(tritons)},  # both Tritons serve the one model
        }


def test_killing_a_replica_or_a_triton_loses_no_answered_image(deployment: Deployment) -> None:
    key = deployment.key("heidi")
    port = free_port()
    doomed = f"http://127.0.0.1:{port}"
    answered: list[str] = []
    env = dict(deployment.env, T2I_RATE_LIMIT_PER_MINUTE="0")
    with frontend_process(env["T2I_TRITON_URL"], port, deployment.work_dir / "replica-c", env) as replica:
        # Enough for a few requests in flight when the kill lands; each worker stops at its first
        # failure (the replica died under it) or after its bounded count.
        started = threading.Barrier(3)

        def worker() -> None:
            with client_for(doomed, key) as client:
                started.wait(30)
                for i in range(20):
                    try:
                        response = client.post(
                            "/images/tti", json={"prompt": f"a star {i}", "size": "512x512"}
                        )
                    except httpx.HTTPError:
                        return
                    if response.status_code == 200:
                        answered.append(response.headers["x-image-id"])

        workers = [threading.Thread(target=worker) for _ in range(2)]
        for thread in workers:
            thread.start()
        started.wait(30)
        # Kill once something was answered: the point is what was answered before the kill.
        while not answered and all(t.is_alive() for t in workers):
            threading.Event().wait(0.05)
        replica.send_signal(signal.SIGKILL)
        for thread in workers:
            thread.join(60)
    assert answered

    survivor = deployment.replicas[1]
    with client_for(survivor, key) as client:
        for image_id in answered:
            assert client.get(f"/images/{image_id}").status_code == 200, image_id

        # One Triton stopped: the survivor still answers every request, on the other server.
        deployment.tritons[1].stop()
        try:
            for _ in range(3):
                response = client.post(
                    "/v1/images/generations", json={**QUICK, "response_format": "b64_json"}
                )
                assert response.status_code == 200
                assert base64.b64decode(response.json()["data"][0]["b64_json"])[:4] == b"\x89PNG"
            for image_id in answered:
                assert client.get(f"/images/{image_id}").status_code == 200, image_id
        finally:
            deployment.tritons[1].start()
            deployment.tritons[1].wait_ready()
