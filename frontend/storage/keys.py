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

from frontend.storage.database import Database

KEY_PREFIX = "t2i-"
SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    revoked REAL
)
"""


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
        self._db = db
        self._db.execute(SCHEMA)

    def create(self, name: str) -> tuple[ApiKey, str]:
        """A new key and its secret; the secret is not kept and cannot be shown again."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(id=uuid.uuid4().hex[:12], name=name, created=time.time(), revoked=None)
        self._db.execute(
            "INSERT INTO api_keys (id, name, key_hash, created) VALUES (?, ?, ?, ?)",
            (key.id, key.name, hash_key(secret), key.created),
        )
        return key, secret

    def list(self) -> list[ApiKey]:
        rows = self._db.execute("SELECT id, name, created, revoked FROM api_keys ORDER BY created")
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        self._db.execute(
            "UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), key_id)
        )
        rows = self._db.execute("SELECT revoked FROM api_keys WHERE id = ?", (key_id,))
        return bool(rows) and rows[0][0] is not None

    def has_keys(self) -> bool:
        """Whether any key was ever created: revoking every key locks the server, it never reopens it."""
        return bool(self._db.execute("SELECT 1 FROM api_keys LIMIT 1"))

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None. Revocation takes effect on the next request."""
        digest = hash_key(secret)
        rows = self._db.execute(
            "SELECT id, name, created, revoked, key_hash FROM api_keys WHERE key_hash = ?", (digest,)
        )
        if not rows or not hmac.compare_digest(rows[0][4], digest) or rows[0][3] is not None:
            return None
        return ApiKey(*rows[0][:4])
