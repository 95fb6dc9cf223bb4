"""A usage row per generation request, and each caller's history with totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import func, insert, select

from frontend.storage.database import Database
from frontend.storage.tables import usage


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


_RECORD_COLUMNS = tuple(usage.c[field.name] for field in fields(UsageRecord))


class UsageStore:
    def __init__(self, db: Database):
        self._engine = db.engine

    def record(self, owner: str, record: UsageRecord) -> None:
        with self._engine.begin() as connection:
            connection.execute(insert(usage).values(owner=owner, **asdict(record)))

    def history(self, owner: str, limit: int) -> list[UsageRecord]:
        query = (
            select(*_RECORD_COLUMNS)
            .where(usage.c.owner == owner)
            .order_by(usage.c.created.desc(), usage.c.id.desc())
            .limit(limit)
        )
        with self._engine.begin() as connection:
            return [UsageRecord(*row) for row in connection.execute(query)]

    def totals(self, owner: str) -> dict[str, Any]:
        query = select(
            func.count(),
            func.coalesce(func.sum(usage.c.count), 0),
            func.coalesce(func.sum(usage.c.cost), 0),
            func.coalesce(func.avg(usage.c.latency_ms), 0),
        ).where(usage.c.owner == owner)
        with self._engine.begin() as connection:
            requests, images, cost, latency = connection.execute(query).one()
        # PostgreSQL sums integers as bigint and averages them as numeric (a Decimal): plain numbers here.
        return {
            "requests": int(requests),
            "images": int(images),
            "cost": round(float(cost), 6),
            "latency_ms_avg": round(float(latency), 1),
        }
