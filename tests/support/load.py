"""Steady client load through the load balancer, counting every failure.

Bounded: it stops at ``stop()``, after ``max_seconds`` or ``max_requests``,
whichever comes first, and only ever targets the URL it is given (loopback).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request


class SteadyLoad:
    def __init__(
        self,
        url: str,
        model: str,
        workers: int = 1,
        max_seconds: float = 900,
        max_requests: int = 200_000,
        max_tokens: int = 8,
    ) -> None:
        self.url, self.model, self.workers = url.rstrip("/") + "/v1/completions", model, workers
        self.max_seconds, self.max_requests, self.max_tokens = max_seconds, max_requests, max_tokens
        self.ok = 0
        self.failed = 0
        self.errors: list[str] = []
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(workers)]

    def _loop(self) -> None:
        body = json.dumps(
            {
                "model": self.model,
                "prompt": "Question: What is 21 plus 21?\nAnswer:",
                "max_tokens": self.max_tokens,
                "temperature": 0,
            }
        ).encode()
        t_end = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < t_end and self.ok + self.failed < self.max_requests:
            t0 = time.monotonic()
            try:
                req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=60) as r:
                    r.read()
                    good = r.status == 200
                err = None if good else f"HTTP {r.status}"
            except (urllib.error.URLError, OSError) as exc:
                good, err = False, f"{type(exc).__name__}: {exc}"
            with self._lock:
                if good:
                    self.ok += 1
                    self.latencies.append(time.monotonic() - t0)
                else:
                    self.failed += 1
                    self.errors.append(err or "?")
            time.sleep(0.02)

    def __enter__(self) -> SteadyLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=90)


def p99_ms(latencies: list[float]) -> float:
    """The 99th percentile of latencies in seconds, in ms (NaN if none)."""
    lat = sorted(latencies)
    return 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else float("nan")
