"""A bounded load run against a running frontend: N clients for T seconds, then every image answered 200
is fetched back. Reports status counts, latency, images lost and the memory growth of the frontend and
Triton processes.

    python -m benchmarks.load --url http://127.0.0.1:8000 --clients 16 --seconds 60 [--key KEY]

Only 200, 429 and 503 are acceptable answers; anything else, or any image that cannot be fetched back,
makes the run fail (exit 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections import Counter

import httpx
import psutil

from testbed.frontend import poll_until_ok

ACCEPTABLE = {200, 429, 503}


def rss_mib(name_part: str) -> float:
    """Resident memory of every process whose command line mentions `name_part` (with children)."""
    total = 0
    for process in psutil.process_iter(["cmdline", "memory_info"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if name_part in cmdline and process.info["memory_info"] is not None:
            total += process.info["memory_info"].rss
    return round(total / 1024**2, 1)


def run(
    url: str, clients: int, seconds: float, key: str | None, max_requests: int, warmup_s: float = 0.0
) -> dict:
    """`warmup_s` of the same load first, unmeasured, so that memory growth excludes first-use allocations
    (onnxruntime arenas for new batch sizes, caches)."""
    if not poll_until_ok(f"{url}/readyz", timeout=180):
        raise SystemExit(f"{url} is not ready after 180 s")
    if warmup_s > 0:
        _load(url, clients, warmup_s, key, max_requests)
    memory_before = _memory()
    result = _load(url, clients, seconds, key, max_requests)
    result["memory_mib_before"] = memory_before
    result["memory_mib_after"] = _memory()
    result["warmup_s"] = warmup_s
    return result


def _memory() -> dict[str, float]:
    return {"frontend": rss_mib("-m frontend"), "triton": rss_mib("tritonserver") + rss_mib("backend_stub")}


def _load(url: str, clients: int, seconds: float, key: str | None, max_requests: int) -> dict:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    answered: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    body = {"prompt": "a red circle on a blue background", "size": "256x256"}

    def client(index: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
            for i in range(max_requests):
                if time.monotonic() > deadline:
                    return
                started = time.monotonic()
                try:
                    response = http.post("/images/tti", json=body | {"seed": index * 100_000 + i})
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(type(exc).__name__)
                    continue
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code == 200:
                        latencies.append(time.monotonic() - started)
                        answered.append(response.headers["x-image-id"])
                if response.status_code in (429, 503):
                    # A well-behaved client: wait as told, within the run's time.
                    wait = float(response.headers.get("retry-after", "1"))
                    time.sleep(max(0.0, min(wait, deadline - time.monotonic())))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started

    lost = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for image_id in answered:
            if http.get(f"/images/{image_id}").status_code != 200:
                lost.append(image_id)
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "statuses": dict(statuses),
        "transport_errors": len(errors),
        "images_answered": len(answered),
        "images_lost": len(lost),
        "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "latency_p95_s": round(sorted(latencies)[int(0.95 * (len(latencies) - 1))], 3) if latencies else None,
        "ok": not lost and not errors and set(statuses) <= ACCEPTABLE,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-requests", type=int, default=1000, help="per client, a bound beside the time")
    parser.add_argument("--key", help="API key, if the server has keys")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of unmeasured load first")
    args = parser.parse_args(argv)
    result = run(args.url, args.clients, args.seconds, args.key, args.max_requests, args.warmup)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
