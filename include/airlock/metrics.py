"""Pipeline metrics for Prometheus, pushed to a Pushgateway.

Why a Pushgateway: task processes are short-lived, so nothing stays up to be
scraped. Why read-then-push: the gateway stores the last push of a group and
does not add, so to keep counters monotonic each push first reads the group's
current values (``prometheus_client``'s parser) and adds to them. One group
per (job, model); pushes on one host are serialised by a file lock, and a
lost race between hosts undercounts by one event at worst.

Metrics never fail the pipeline: an unreachable gateway is a warning.
"""

from __future__ import annotations

import fcntl
import logging
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from airlock.config import AirlockConfig

log = logging.getLogger("airlock.metrics")

# name (without _total) -> (help, label names besides ``model``)
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "airlock_verdicts": ("Evaluation verdicts", ("verdict",)),
    "airlock_rollouts": ("Finished rollouts by outcome", ("outcome",)),
    "airlock_rollbacks": ("Fleet rollbacks (automatic after a failed rollout, or manual)", ("kind",)),
    "airlock_ingest_bytes": ("Bytes admitted into the registry, uploaded or deduplicated", ("kind",)),
    "airlock_gc_deleted_bytes": ("Blob bytes deleted by registry_gc", ()),
}
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "airlock_rollout_last_duration_seconds": ("Duration of the last rollout", ()),
}


@contextmanager
def _lock(cfg: AirlockConfig) -> Iterator[None]:
    path = cfg.state_dir / "metrics.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def current(url: str, job: str, model: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The group's pushed samples: (sample name, extra labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=5) as r:  # noqa: S310
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        if fam.name not in COUNTERS and fam.name not in GAUGES:
            continue
        for s in fam.samples:
            if s.labels.get("job") != job or s.labels.get("model") != model or s.name.endswith("_created"):
                continue
            extra = tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("job", "model", "instance")))
            out[(s.name, extra)] = s.value
    return out


def record(
    cfg: AirlockConfig,
    model: str,
    counts: Mapping[str, Mapping[str, float] | float] | None = None,
    gauges: dict[str, float] | None = None,
) -> bool:
    """Add to counters and set gauges of ``model``'s group; True if pushed.

    ``counts``: ``{"airlock_verdicts": {"pass": 1}}`` (keyed by the one extra
    label's value) or ``{"airlock_gc_deleted_bytes": 1234}`` (no extra label).
    """
    url = cfg.metrics.pushgateway_url
    if not url:
        return False
    from prometheus_client import CollectorRegistry, Counter, Gauge, push_to_gateway

    try:
        with _lock(cfg):
            before = current(url, cfg.metrics.job, model)
            reg = CollectorRegistry()
            for name, (doc, labels) in COUNTERS.items():
                c = Counter(name, doc, ("model", *labels), registry=reg)
                adds: dict[tuple[tuple[str, str], ...], float] = {
                    extra: v for (sname, extra), v in before.items() if sname == f"{name}_total"
                }
                inc = (counts or {}).get(name)
                if isinstance(inc, Mapping):
                    for value, n in inc.items():
                        key = ((labels[0], value),)
                        adds[key] = adds.get(key, 0.0) + n
                elif inc is not None:
                    adds[()] = adds.get((), 0.0) + inc
                for extra, v in adds.items():
                    c.labels(model=model, **dict(extra)).inc(v)
            for name, (doc, labels) in GAUGES.items():
                g = Gauge(name, doc, ("model", *labels), registry=reg)
                gauge = (gauges or {}).get(name, before.get((name, ())))
                if gauge is not None:
                    g.labels(model=model).set(gauge)
            push_to_gateway(url, job=cfg.metrics.job, registry=reg, grouping_key={"model": model}, timeout=5)
        return True
    except Exception as exc:  # noqa: BLE001 - metrics must never fail a gate or a rollout
        log.warning("could not push pipeline metrics to %s: %s", url, type(exc).__name__)
        return False
