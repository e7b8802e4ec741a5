"""Canary bake: is the canary measurably worse than the rest of the fleet?

Signals over the bake window, as deltas between two scrapes:

* error rate per node, from HAProxy's exporter (5xx and connection errors of
  that server over its responses): what clients actually saw;
* TTFT p95 per node, from vLLM's ``vllm:time_to_first_token_seconds``
  histogram, interpolated within buckets as Prometheus'
  ``histogram_quantile`` does.

Everything is parsed with prometheus_client's text parser; with
``bake.prometheus_url`` set, the same figures come from PromQL instead.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from airlock.config import BakeConfig
from airlock.errors import ConfigError

TTFT = "vllm:time_to_first_token_seconds"


@dataclass
class NodeSignal:
    requests: float = 0.0
    errors: float = 0.0
    ttft_buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count
    p95_ms: float | None = None  # when a query already computed it (Prometheus)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def ttft_p95_ms(self) -> float | None:
        return self.p95_ms if self.p95_ms is not None else quantile(0.95, self.ttft_buckets)


@dataclass
class BakeResult:
    passed: bool
    reasons: list[str]
    canary: dict[str, float | None]
    rest: dict[str, float | None]


def _get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - configured local URLs
        body: bytes = r.read()
    return body.decode()


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """histogram_quantile over cumulative buckets (le -> count), in ms."""
    if not buckets:
        return None
    items = sorted(buckets.items())
    total = items[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in items:
        if c >= rank:
            if le == float("inf"):
                return prev_le * 1000
            return 1000 * (prev_le + (le - prev_le) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 1))
        prev_le, prev_c = le, c
    return items[-1][0] * 1000


def scrape_vllm(base_url: str) -> dict[float, float]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[float, float] = {}
    for fam in text_string_to_metric_families(_get(base_url + "/metrics")):
        if fam.name != TTFT:
            continue
        for s in fam.samples:
            if s.name.endswith("_bucket"):
                le = float(s.labels["le"])
                out[le] = out.get(le, 0.0) + s.value
    return out


def scrape_haproxy(stats_url: str, backend: str) -> dict[str, tuple[float, float]]:
    """server -> (responses, errors) counters from HAProxy's exporter."""
    from prometheus_client.parser import text_string_to_metric_families

    resp: dict[str, float] = {}
    err: dict[str, float] = {}
    for fam in text_string_to_metric_families(_get(stats_url)):
        for s in fam.samples:
            if s.labels.get("proxy") != backend or "server" not in s.labels:
                continue
            srv = s.labels["server"]
            if s.name == "haproxy_server_http_responses_total":
                resp[srv] = resp.get(srv, 0.0) + s.value
                if s.labels.get("code") == "5xx":
                    err[srv] = err.get(srv, 0.0) + s.value
            elif s.name in ("haproxy_server_connection_errors_total", "haproxy_server_response_errors_total"):
                err[srv] = err.get(srv, 0.0) + s.value
    return {srv: (resp.get(srv, 0.0), err.get(srv, 0.0)) for srv in set(resp) | set(err)}


def _delta(a: dict[float, float], b: dict[float, float]) -> dict[float, float]:
    return {k: b[k] - a.get(k, 0.0) for k in b}


def judge(canary: NodeSignal, rest: list[NodeSignal], cfg: BakeConfig) -> BakeResult:
    reasons: list[str] = []
    c_p95 = canary.ttft_p95_ms()
    rest_buckets: dict[float, float] = {}
    for r in rest:
        for k, v in r.ttft_buckets.items():
            rest_buckets[k] = rest_buckets.get(k, 0.0) + v
    given = [r.p95_ms for r in rest if r.p95_ms is not None]
    r_p95 = max(given) if given else quantile(0.95, rest_buckets)
    r_req = sum(r.requests for r in rest)
    r_err = sum(r.errors for r in rest)
    if canary.requests < cfg.min_requests:
        note = f"canary served {canary.requests:.0f} requests (< {cfg.min_requests}): too little traffic to judge"
        if cfg.require_traffic:
            reasons.append(note)
        return BakeResult(not reasons, reasons or [note], _summary(canary, c_p95), _summary_rest(r_req, r_err, r_p95))
    if canary.error_rate > cfg.max_error_rate:
        reasons.append(f"canary error rate {canary.error_rate:.1%} > {cfg.max_error_rate:.1%}")
    if c_p95 is not None and cfg.max_ttft_p95_ms is not None and c_p95 > cfg.max_ttft_p95_ms:
        reasons.append(f"canary TTFT p95 {c_p95:.1f} ms > ceiling {cfg.max_ttft_p95_ms:.1f} ms")
    if c_p95 is not None and r_p95:
        rise = 100 * (c_p95 - r_p95) / r_p95
        if rise > cfg.max_ttft_p95_increase_pct and c_p95 - r_p95 > cfg.min_ttft_p95_delta_ms:
            reasons.append(
                f"canary TTFT p95 {c_p95:.1f} ms is {rise:.0f}% above the fleet's {r_p95:.1f} ms "
                f"(limit {cfg.max_ttft_p95_increase_pct:.0f}%)"
            )
    return BakeResult(
        not reasons, reasons or ["canary within limits"], _summary(canary, c_p95), _summary_rest(r_req, r_err, r_p95)
    )


def _summary(s: NodeSignal, p95: float | None) -> dict[str, float | None]:
    return {"requests": s.requests, "errors": s.errors, "error_rate": s.error_rate, "ttft_p95_ms": p95}


def _summary_rest(req: float, err: float, p95: float | None) -> dict[str, float | None]:
    return {"requests": req, "errors": err, "error_rate": err / req if req else 0.0, "ttft_p95_ms": p95}


def bake(
    canary: tuple[str, str],
    rest: list[tuple[str, str]],
    stats_url: str,
    backend: str,
    cfg: BakeConfig,
    sleep: Callable[[float], None] = time.sleep,
) -> BakeResult:
    """Watch ``canary`` (haproxy server name, node URL) against ``rest`` for the window.

    Judged once over the whole window (early samples of a freshly started
    server are noisy); an error-rate breach ends the bake early.
    """
    if cfg.prometheus_url:
        return bake_prometheus(canary, rest, backend, cfg, sleep)
    nodes = [canary, *rest]
    h0 = scrape_haproxy(stats_url, backend)
    v0 = {srv: scrape_vllm(url) for srv, url in nodes}
    deadline = time.monotonic() + cfg.seconds
    result = BakeResult(True, ["no bake window configured"], {}, {})
    while time.monotonic() < deadline:
        sleep(min(cfg.interval_s, max(0.0, deadline - time.monotonic())))
        h1 = scrape_haproxy(stats_url, backend)
        signals = {}
        for srv, url in nodes:
            r0, e0 = h0.get(srv, (0.0, 0.0))
            r1, e1 = h1.get(srv, (0.0, 0.0))
            signals[srv] = NodeSignal(r1 - r0, e1 - e0, _delta(v0[srv], scrape_vllm(url)))
        result = judge(signals[canary[0]], [signals[s] for s, _ in rest], cfg)
        c = signals[canary[0]]
        if c.requests >= cfg.min_requests and c.error_rate > cfg.max_error_rate:
            return result
    return result


def bake_prometheus(
    canary: tuple[str, str],
    rest: list[tuple[str, str]],
    backend: str,
    cfg: BakeConfig,
    sleep: Callable[[float], None] = time.sleep,
) -> BakeResult:
    """The same judgement from PromQL over the window (``bake.prometheus_url``)."""
    if not cfg.prometheus_url:
        raise ConfigError("bake.prometheus_url is not set")
    base = cfg.prometheus_url.rstrip("/")
    sleep(cfg.seconds)
    w = f"{max(1, int(cfg.seconds))}s"

    def q(expr: str) -> dict[str, float]:
        url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        data = json.loads(_get(url))["data"]["result"]
        return {r["metric"].get("server", r["metric"].get("instance", "")): float(r["value"][1]) for r in data}

    req = q(f'sum by (server) (increase(haproxy_server_http_responses_total{{proxy="{backend}"}}[{w}]))')
    err = q(f'sum by (server) (increase(haproxy_server_http_responses_total{{proxy="{backend}",code="5xx"}}[{w}]))')
    p95 = q(f"histogram_quantile(0.95, sum by (le, instance) (rate({TTFT}_bucket[{w}]))) * 1000")
    srv, url = canary
    inst = urllib.parse.urlparse(url).netloc

    def sig(name: str, instance: str) -> NodeSignal:
        return NodeSignal(req.get(name, 0.0), err.get(name, 0.0), p95_ms=p95.get(instance))

    return judge(sig(srv, inst), [sig(s, urllib.parse.urlparse(u).netloc) for s, u in rest], cfg)
