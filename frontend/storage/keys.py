"""API keys: created by the CLI, shown once, stored only as a SHA-256 hash.

Keys are 256-bit random tokens, so an unsalted fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from frontend.storage.database import Database
from frontend.storage.tables import api_keys

KEY_PREFIX = "t2i-"
_KEY_COLUMNS = (api_keys.c.id, api_keys.c.name, api_keys.c.created, api_keys.c.revoked)


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    created: float
    revoked: float | None


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyStore:
    def __init__(self, db: Database):
        self._engine = db.engine

    def create(self, name: str) -> tuple[ApiKey, str]:
        """A new key and its secret; the secret is not kept and cannot be shown again."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(id=uuid.uuid4().hex[:12], name=name, created=time.time(), revoked=None)
        with self._engine.begin() as connection:
            connection.execute(
                insert(api_keys).values(
                    id=key.id, name=key.name, key_hash=hash_key(secret), created=key.created
                )
            )
        return key, secret

    def list(self) -> list[ApiKey]:
        with self._engine.begin() as connection:
            rows = connection.execute(select(*_KEY_COLUMNS).order_by(api_keys.c.created))
            return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Whether `key_id` is revoked now (revoking a revoked key keeps its first revocation time)."""
        with self._engine.begin() as connection:
            connection.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked.is_(None))
                .values(revoked=time.time())
            )
            revoked = connection.execute(select(api_keys.c.revoked).where(api_keys.c.id == key_id))
            return revoked.scalar() is not None

    def has_keys(self) -> bool:
        """Whether any key was ever created: revoking every key locks the server, it never reopens it."""
        with self._engine.begin() as connection:
            return connection.execute(select(api_keys.c.id).limit(1)).first() is not None

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None. Revocation takes effect on the next request."""
        digest = hash_key(secret)
        with self._engine.begin() as connection:
            row = connection.execute(
                select(*_KEY_COLUMNS, api_keys.c.key_hash).where(api_keys.c.key_hash == digest)
            ).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked is not None:
            return None
        return ApiKey(*row[:4])
