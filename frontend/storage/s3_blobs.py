"""Image bytes in an S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph...), for several frontend
replicas that must all see every image.

Credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
an instance role...), never from the URL or the settings.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger(__name__)

# A blob is one image of a few MiB at most: a store that takes longer than this is down, and the
# generation that waits on it should fail rather than hold its admission slot.
S3_CONNECT_TIMEOUT_S = 5.0
S3_READ_TIMEOUT_S = 30.0
# What S3 and the compatible stores answer for an absent key (GetObject's code, HeadObject's status).
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404"})


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""  # without a leading or trailing slash; "" keeps the keys at the bucket's root

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key


def s3_client(endpoint_url: str | None) -> Any:
    """One client for every worker thread: boto3 clients are thread-safe, sessions are not, so the
    session lives only as long as it takes to make the client (and is not boto3's shared default)."""
    custom_store = endpoint_url is not None
    config = Config(
        connect_timeout=S3_CONNECT_TIMEOUT_S,
        read_timeout=S3_READ_TIMEOUT_S,
        retries={"mode": "standard"},
        # Another store is reached by host:port, where bucket.host (virtual-hosted style) does not resolve.
        s3={"addressing_style": "path"} if custom_store else None,
        # botocore >= 1.36 adds CRC checksums to every upload by default, which several S3-compatible
        # stores reject or mishandle; send them only where the API requires them.
        request_checksum_calculation="when_required" if custom_store else "when_supported",
        response_checksum_validation="when_required" if custom_store else "when_supported",
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


class S3BlobStore:
    def __init__(self, location: S3Location, client: Any):
        self.location = location
        self.client = client

    def put(self, key: str, data: bytes) -> None:
        """One PutObject: S3 never shows a half-written object, so no temp key is needed."""
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        self.client.put_object(
            Bucket=self.location.bucket,
            Key=self.location.object_key(key),
            Body=data,
            ContentType=content_type,
        )

    def read(self, key: str) -> bytes | None:
        """The bytes, or None for an absent key; any other failure (credentials, network) raises."""
        try:
            response = self.client.get_object(Bucket=self.location.bucket, Key=self.location.object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_KEY_CODES:
                return None
            raise
        with response["Body"] as body:
            return body.read()

    def ready(self) -> bool:
        """Whether the bucket answers with these credentials (HeadBucket). Blocking: call it off the loop."""
        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except (BotoCoreError, ClientError) as exc:
            logger.warning("blob store s3://%s not ready: %s", self.location.bucket, exc)
            return False
        return True
