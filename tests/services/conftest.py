"""A real Redis and a real S3-compatible store (SeaweedFS), started once for these tests on loopback ports
by testbed/services.py. T2I_TEST_REDIS_URL, or T2I_TEST_S3_ENDPOINT_URL with T2I_TEST_S3_BUCKET and the
AWS credential variables, point them at servers of your own instead."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from frontend.storage.s3_blobs import S3Location, s3_client
from testbed.services import redis_server, s3_server

S3_VARIABLES = (
    "T2I_TEST_S3_ENDPOINT_URL",
    "T2I_TEST_S3_BUCKET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("T2I_TEST_REDIS_URL"):
        yield os.environ["T2I_TEST_REDIS_URL"]
        return
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def s3_server_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The endpoint, bucket and credentials, as variables (boto3 reads its credentials from them)."""
    if all(os.environ.get(name) for name in S3_VARIABLES):
        yield {name: os.environ[name] for name in S3_VARIABLES}
        return
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield {
            "T2I_TEST_S3_ENDPOINT_URL": server.endpoint_url,
            "T2I_TEST_S3_BUCKET": server.bucket,
            "AWS_ACCESS_KEY_ID": server.access_key,
            "AWS_SECRET_ACCESS_KEY": server.secret_key,
            "AWS_DEFAULT_REGION": server.region,
        }


@dataclass(frozen=True)
class S3Endpoint:
    endpoint_url: str
    location: S3Location  # the test's own prefix in the test bucket, emptied after the test

    @property
    def blob_store_url(self) -> str:
        return f"s3://{self.location.bucket}/{self.location.prefix}"


@pytest.fixture
def s3_endpoint(s3_server_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Endpoint]:
    for name, value in s3_server_env.items():
        monkeypatch.setenv(name, value)
    endpoint = S3Endpoint(
        s3_server_env["T2I_TEST_S3_ENDPOINT_URL"],
        S3Location(s3_server_env["T2I_TEST_S3_BUCKET"], f"t2i-test-{uuid.uuid4().hex}"),
    )
    yield endpoint
    # Set again: a test may have changed the credential variables (and this runs before that is undone).
    for name, value in s3_server_env.items():
        monkeypatch.setenv(name, value)
    client = s3_client(endpoint.endpoint_url)
    listed = client.list_objects_v2(Bucket=endpoint.location.bucket, Prefix=endpoint.location.prefix + "/")
    for item in listed.get("Contents", []):
        client.delete_object(Bucket=endpoint.location.bucket, Key=item["Key"])
