"""A usage row per generation request, and each caller's history with totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from frontend.storage.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    route TEXT NOT NULL,
    model TEXT NOT NULL,
    image_size TEXT NOT NULL,
    count INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    cost REAL NOT NULL,
    created REAL NOT NULL
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS usage_owner_created ON usage (owner, created)"
_FIELDS = ("route", "model", "image_size", "count", "steps", "latency_ms", "cost", "created")


@dataclass(frozen=True)
class UsageRecord:
    route: str
    model: str
    image_size: str
    count: int
    steps: int
    latency_ms: int
    cost: float
    created: float


class UsageStore:
    def __init__(self, db: Database):
        self._db = db
        self._db.execute(SCHEMA)
        self._db.execute(_INDEX)

    def record(self, owner: str, usage: UsageRecord) -> None:
        self._db.execute(
            f"INSERT INTO usage (owner, {', '.join(_FIELDS)}) VALUES (?{', ?' * len(_FIELDS)})",
            (owner, *asdict(usage).values()),
        )

    def history(self, owner: str, limit: int) -> list[UsageRecord]:
        rows = self._db.execute(
            f"SELECT {', '.join(_FIELDS)} FROM usage WHERE owner = ? ORDER BY created DESC, id DESC LIMIT ?",
            (owner, limit),
        )
        return [UsageRecord(*row) for row in rows]

    def totals(self, owner: str) -> dict[str, Any]:
        requests, images, cost, latency = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(count), 0), COALESCE(SUM(cost), 0), COALESCE(AVG(latency_ms), 0) "
            "FROM usage WHERE owner = ?",
            (owner,),
        )[0]
        return {
            "requests": requests,
            "images": images,
            "cost": round(cost, 6),
            "latency_ms_avg": round(latency, 1),
        }
