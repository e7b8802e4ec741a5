"""``python -m airlock_dev.stack up|down|status|env``: the embedded local stack.

``up`` starts each service, waits for its health with a timeout and, on
failure, names the service and prints the tail of its log. ``down`` stops
exactly the processes ``up`` recorded in pid files. Nothing here prints a
secret; the Airflow admin password is shown once, on the terminal, by ``up``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from airlock.config import load_config
from airlock.errors import AirlockError, ConfigError
from airlock_dev.config import load_stack_config
from airlock_dev.factory import tasks
from airlock_dev.stack.services import LocalStack


def say(msg: str) -> None:
    print(msg, flush=True)


def airflow_password(stack: LocalStack) -> str | None:
    f = stack.paths.airflow_home / "simple_auth_manager_passwords.json.generated"
    try:
        return json.loads(f.read_text()).get("admin")
    except (OSError, ValueError):
        return None


def seed_nodes(stack: LocalStack) -> None:
    """Give nodes with no version the bootstrap model, so the fleet can serve.

    The bootstrap is the factory's under-trained variant, ingested into the
    registry like any candidate and materialised with verification; promotion
    replaces it. A production fleet is seeded by ``model_rollback`` instead.
    """
    nodes = [n for n in stack.nodes() if n.active_version() is None]
    if not nodes:
        return
    from airlock import intake
    from airlock.materialize import materialize
    from airlock.registry import Registry
    from airlock_dev.factory import tinymodel

    variant = tinymodel.build_variant("regressed", stack.paths.state / "factory")
    reg = Registry.from_config(stack.cfg)
    report = intake.ingest_local(stack.cfg, reg, "airlock-demo", variant)
    for n in nodes:
        materialize(reg, report.manifest, n.version_dir(report.manifest.digest))
        n.activate(report.manifest.digest)
    say(f"  seeded {', '.join(n.name for n in nodes)} with bootstrap version {report.manifest.digest[:12]}")


def up(stack: LocalStack) -> int:
    cfg, p = stack.cfg, stack.paths
    for d in (p.data, p.logs, p.run):
        d.mkdir(parents=True, exist_ok=True)
    os.environ.update(stack.pipeline_env())
    t0 = time.monotonic()
    timeout = stack.settings.startup_timeout_s
    tasks.write_task_dir(cfg.state_dir / "evals" / "private")  # the demo suite (airlock.yaml: suites.private)
    try:
        sw = stack.seaweedfs()
        sw.start()
        sw.wait_healthy(timeout)
        from airlock.registry import Registry
        from airlock.store import s3_client

        Registry.from_config(cfg).ensure_bucket()
        Registry(
            s3_client(cfg.registry.endpoint_url, cfg.registry.region), stack.settings.mlflow_artifact_bucket
        ).ensure_bucket()
        say(f"  seaweedfs   {stack.s3_url} (S3)")
        ml = stack.mlflow()
        ml.start()
        hub = stack.olah()
        hub.start()
        pgw = stack.pushgateway()
        pgw.start()
        env = {**os.environ, **stack.airflow_env()}
        subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        af = stack.airflow()
        for proc in af:
            proc.start()
        seed_nodes(stack)
        nodes = stack.nodes()
        for n in nodes:
            n.start()
        hp = stack.haproxy()
        hp.start()
        ml.wait_healthy(timeout)
        say(f"  mlflow      {stack.mlflow_url}")
        for proc in af:
            proc.wait_healthy(timeout)
        say(f"  airflow     {stack.airflow_url}")
        for n in nodes:
            n.wait_healthy()
            say(f"  {n.name:<11} {n.base_url} (version {n.current_version()[:12]})")
        hub.wait_healthy(timeout)
        say(f"  hub mirror  http://127.0.0.1:{stack.settings.olah_port} (olah, offline)")
        pgw.wait_healthy(timeout)
        say(f"  pushgateway {stack.pushgateway_url}/metrics (pipeline metrics)")
        hp.wait_healthy(timeout)
        for n in nodes:
            stack.balancer().wait_up(n.cfg.haproxy_server or n.name, timeout=30)
        say(
            f"  haproxy     http://127.0.0.1:{cfg.balancer.frontend_port} (fleet), "
            f"http://127.0.0.1:{cfg.balancer.stats_port}/metrics"
        )
    except AirlockError as exc:
        say(f"FAILED: {exc}")
        return 1
    say(f"stack up in {time.monotonic() - t0:.0f}s; state, data and logs under {p.state}")
    pw = airflow_password(stack)
    if pw:
        say(f"Airflow login: admin / {pw}  (from {p.airflow_home}/simple_auth_manager_passwords.json.generated)")
    return 0


def down(stack: LocalStack) -> int:
    stopped = []
    hp = stack.haproxy()
    if hp.stop():
        stopped.append("haproxy")
    stack.cfg.haproxy_socket.unlink(missing_ok=True)
    for n in stack.nodes():
        if n.running():
            n.stop()
            stopped.append(n.name)
    for proc in [*reversed(stack.airflow()), stack.pushgateway(), stack.olah(), stack.mlflow(), stack.seaweedfs()]:
        if proc.stop():
            stopped.append(proc.name)
    say("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def status(stack: LocalStack) -> int:
    rows = []
    total = 0.0
    procs = stack.all_processes()
    for proc in procs:
        pid = proc.pid()
        healthy = bool(pid) and (proc.healthy is None or _safe(proc.healthy))
        rss = proc.rss_mb()
        total += rss
        rows.append((proc.name, pid or "-", "healthy" if healthy else ("running" if pid else "stopped"), rss))
    for n in stack.nodes():
        rss = n.rss_mb()
        total += rss
        v = n.current_version()
        state = ("healthy" if n.healthy() else "running") if n.running() else "stopped"
        rows.append((n.name, "-", f"{state} v={v[:12] if v else '-'}", rss))
    for name, pid, st, rss in rows:
        say(f"  {name:<24} {str(pid):>8}  {st:<28} {rss:8.0f} MB")
    say(f"  {'total':<24} {'':>8}  {'':<28} {total:8.0f} MB")
    return 0


def _safe(fn) -> bool:
    try:
        return bool(fn())
    except Exception:  # noqa: BLE001
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="airlock-stack", description=__doc__)
    ap.add_argument("command", choices=["up", "down", "status", "env"])
    args = ap.parse_args(argv)
    try:
        stack = LocalStack(load_config(), load_stack_config())
    except ConfigError as exc:
        say(f"config error: {exc}")
        return 2
    if args.command == "env":  # for `eval $(make env)`-style shells; values are secrets
        for k, v in {**stack.airflow_env()}.items():
            print(f"export {k}='{v}'")
        return 0
    return {"up": up, "down": down, "status": status}[args.command](stack)


if __name__ == "__main__":
    sys.exit(main())
