"""Real Redis and a real S3-compatible store, reached through the endpoints the environment names; each
test skips, saying which variable is unset, where there is none. (testbed/services.py starts both.)"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from frontend.storage.s3_blobs import S3Location, s3_client

S3_VARIABLES = (
    "T2I_TEST_S3_ENDPOINT_URL",
    "T2I_TEST_S3_BUCKET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("T2I_TEST_REDIS_URL")
    if not url:
        pytest.skip("T2I_TEST_REDIS_URL is unset: no Redis to test against (redis://host:port/db)")
    return url


@dataclass(frozen=True)
class S3Endpoint:
    endpoint_url: str
    location: S3Location  # the test's own prefix in the test bucket, emptied after the test

    @property
    def blob_store_url(self) -> str:
        return f"s3://{self.location.bucket}/{self.location.prefix}"


@pytest.fixture
def s3_endpoint() -> Iterator[S3Endpoint]:
    missing = [name for name in S3_VARIABLES if not os.environ.get(name)]
    if missing:
        pytest.skip(f"{', '.join(missing)} unset: no S3-compatible store to test against")
    endpoint = S3Endpoint(
        os.environ["T2I_TEST_S3_ENDPOINT_URL"],
        S3Location(os.environ["T2I_TEST_S3_BUCKET"], f"t2i-test-{uuid.uuid4().hex}"),
    )
    yield endpoint
    client = s3_client(endpoint.endpoint_url)
    listed = client.list_objects_v2(Bucket=endpoint.location.bucket, Prefix=endpoint.location.prefix + "/")
    for item in listed.get("Contents", []):
        client.delete_object(Bucket=endpoint.location.bucket, Key=item["Key"])
