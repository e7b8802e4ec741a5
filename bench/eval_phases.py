"""The cost of evaluating a real model, phase by phase, on the shipped configuration.

Brings the local stack up (as ``make up``), publishes SmolLM2-135M-Instruct (float32, three
shards) on the hub mirror, triggers ``model_intake`` through Airflow's REST API, waits for the
``model_evaluate`` run that ``candidate_dispatch`` makes for it, and prints each task's wall
time (Airflow's own start and end), the evaluation's total from its first task's start to its
last task's end, and the goal (<= 5 minutes on 2 cores with the default suite).

Leaves the stack running (``make down`` stops it). With ``promotion.auto_promote`` (the shipped
default) the passed model is then promoted onto the local fleet, which a fleet holds one model
at a time (issue #15): run ``make clean`` before ``make demo`` afterwards. Run:
``PYTHONPATH=include:. .venv/bin/python bench/eval_phases.py [--model NAME]``
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from airlock.config import load_config  # noqa: E402
from airlock.dispatch import candidate_run_id  # noqa: E402
from airlock_dev.config import load_stack_config  # noqa: E402
from airlock_dev.factory import smollm2, upstream  # noqa: E402
from airlock_dev.stack import cli  # noqa: E402
from airlock_dev.stack.airflow_client import AirflowClient  # noqa: E402
from airlock_dev.stack.services import LocalStack  # noqa: E402

REPO_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
PHASES = ("stage", "serve", "accuracy", "performance", "record", "check", "decide", "sign", "signal")


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=f"smollm2-bench-{int(time.time())}", help="registry name (fresh: no champion)")
    args = ap.parse_args()
    cfg = load_config()
    stack = LocalStack(cfg, load_stack_config())
    if cli.up(stack) != 0:
        return 1
    weights = smollm2.build_variant("instruct", stack.paths.state / "factory")
    upstream.publish_git(weights, stack.paths.state / "hub" / "mirrors", REPO_ID)
    af = AirflowClient(stack.airflow_url, "admin", cli.airflow_password(stack) or "")
    for dag_id in ("model_intake", "candidate_dispatch", "model_evaluate"):
        af.wait_dag(dag_id, timeout=180)
    t0 = time.monotonic()
    intake = af.trigger(
        "model_intake", {"model_name": args.model, "source_kind": "hub", "location": REPO_ID, "revision": "main"}
    )
    if af.wait_run("model_intake", intake, timeout=900) != "success":
        print(f"intake failed: {af.run_url('model_intake', intake)}")
        return 1
    digest = af.xcom("model_intake", intake, "record")["digest"]
    run_id = candidate_run_id(args.model, digest)
    af.wait_run_exists("model_evaluate", run_id, timeout=300)
    state = af.wait_run("model_evaluate", run_id, timeout=3600)
    tis = {t["task_id"]: t for t in af.task_instances("model_evaluate", run_id)}
    print(f"model_evaluate {state} for {args.model}@{digest[:12]} (intake to verdict {time.monotonic() - t0:.0f}s)")
    starts, ends = [], []
    for name in PHASES:
        ti = tis.get(name)
        if not ti or not ti.get("start_date") or not ti.get("end_date"):
            print(f"  {name:<12} {'-':>7}  ({ti.get('state') if ti else 'absent'})")
            continue
        a, b = _t(ti["start_date"]), _t(ti["end_date"])
        starts.append(a)
        ends.append(b)
        print(f"  {name:<12} {(b - a).total_seconds():>6.1f}s")
    total = (max(ends) - min(starts)).total_seconds()
    print(f"  {'total':<12} {total:>6.1f}s  (first task start to last task end; goal <= 300 s)")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
