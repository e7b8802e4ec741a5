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
from airlock.nodes.process import ProcessNode
from airlock.nodes.supervisor import PRIVATE_UMASK
from airlock.tracking import users
from airlock_dev.config import load_stack_config
from airlock_dev.factory import datasets, tasks
from airlock_dev.stack import secrets as stack_secrets
from airlock_dev.stack.services import LocalStack, mlflow_users


def say(msg: str) -> None:
    print(msg, flush=True)


def airflow_password(stack: LocalStack) -> str | None:
    f = stack.paths.airflow_home / "simple_auth_manager_passwords.json.generated"
    try:
        return json.loads(f.read_text()).get("admin")
    except (OSError, ValueError):
        return None


def up(stack: LocalStack) -> int:
    cfg, p = stack.cfg, stack.paths
    os.umask(PRIVATE_UMASK)  # databases, secrets, state and logs: 0600 files in 0700 folders
    for d in (p.state, cfg.state_dir, p.data, p.logs, p.run):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o700)
    os.environ.update(stack.pipeline_env())
    t0 = time.monotonic()
    timeout = stack.settings.startup_timeout_s
    stack_secrets.signing_keys(p.keys)  # the dev signing key pair (airlock.yaml: signing)
    tasks.write_task_dir(cfg.state_dir / "evals" / "private")  # the demo suite (airlock.yaml: suites.private)
    datasets.publish_datasets(p.state / "hub" / "mirrors")  # stand-ins for the standard suite's datasets
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
        nodes = serving_nodes(stack)
        for n in nodes:
            n.start()
        hp = stack.haproxy()
        hp.start()
        ml.wait_healthy(timeout)
        mlflow_users(stack.mlflow_url, stack.creds)
        say(f"  mlflow      {stack.mlflow_url} (sign in as {users.REVIEWER} to read; passwords in {p.secrets})")
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
    if not nodes:
        say("  fleet       empty: the first promotion (make demo) puts a signed, evaluated version on it")
    say(f"stack up in {time.monotonic() - t0:.0f}s; state, data and logs under {p.state}")
    pw_file = p.airflow_home / "simple_auth_manager_passwords.json.generated"
    if pw_file.exists():
        pw_file.chmod(0o600)
        say(f"Airflow login: admin; its password is in {pw_file} (mode 0600, never printed)")
    return 0


def serving_nodes(stack: LocalStack) -> list[ProcessNode]:
    """The nodes to start: those with an active version whose signed pass still verifies.

    A fresh stack has none; ``make up`` after a demo restarts what the fleet served.
    """
    from airlock.materialize import check_cached

    out = []
    for n in stack.nodes():
        digest = n.active_version()
        if digest is None:
            continue
        check_cached(n.version_dir(digest), stack.cfg.trusted_keys())  # IntegrityError: not started
        out.append(n)
    return out


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
    ap.add_argument("command", choices=["up", "down", "status", "env", "compose-secrets"])
    args = ap.parse_args(argv)
    if args.command == "compose-secrets":  # docker-compose.yml's deploy/secrets (docs/gpu-server.md)
        for f in stack_secrets.compose_secrets(load_config().root / "deploy" / "secrets"):
            say(f"  {f} ({oct(f.stat().st_mode & 0o777)})")
        return 0
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
