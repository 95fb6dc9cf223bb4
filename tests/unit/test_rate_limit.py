"""The per-key limit in process (`memory://`); shared by replicas through Redis in
tests/services/test_shared_redis.py."""

from __future__ import annotations

import socket

import pytest

from frontend.http.errors import BackendUnavailable, RateLimitExceeded
from frontend.security.rate_limit import RateLimiter


def test_n_allowed_then_refused_with_the_seconds_until_a_slot_frees() -> None:
    limiter = RateLimiter(per_minute=3)
    for _ in range(3):
        limiter.check("key1")
    with pytest.raises(RateLimitExceeded) as refused:
        limiter.check("key1")
    # The first hit was just now: its slot frees in (almost) a full window.
    retry_after = int(refused.value.headers["Retry-After"])
    assert 58 <= retry_after <= 60
    assert f"retry in {retry_after} s" in refused.value.message
    assert "3 requests per minute" in refused.value.message


def test_keys_are_counted_apart() -> None:
    limiter = RateLimiter(per_minute=1)
    limiter.check("key1")
    limiter.check("key2")
    with pytest.raises(RateLimitExceeded):
        limiter.check("key1")
    with pytest.raises(RateLimitExceeded):
        limiter.check("key2")


def test_zero_is_no_limit() -> None:
    limiter = RateLimiter(per_minute=0)
    for _ in range(1000):
        limiter.check("key1")
    assert limiter.ready()


def test_two_in_process_limiters_do_not_share_counts() -> None:
    """Without T2I_REDIS_URL each replica counts alone (the Redis test checks the opposite)."""
    first, second = RateLimiter(per_minute=1), RateLimiter(per_minute=1)
    first.check("key1")
    second.check("key1")


def test_an_unreachable_redis_is_503_not_a_free_pass() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        limiter = RateLimiter(per_minute=5, redis_url=f"redis://127.0.0.1:{port}/0")
        with pytest.raises(BackendUnavailable) as unavailable:
            limiter.check("key1")
        assert unavailable.value.status == 503 and unavailable.value.headers["Retry-After"]
        assert not limiter.ready()
