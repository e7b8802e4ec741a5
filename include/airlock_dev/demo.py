"""``make demo``: the whole lifecycle on the embedded stack, end to end.

Brings the stack up, builds the factory's ``good`` model, publishes it on the
hub mirror as ``airlock-demo/tiny-good``, then triggers the lifecycle DAGs
through Airflow's REST API (as a UI click would) and waits for each. Prints
the verdict, where the reports are, and the Airflow and MLflow URLs.
"""

from __future__ import annotations

import sys
import time

from airlock.config import load_config
from airlock.dispatch import candidate_run_id, verdict_run_id
from airlock.tracking import users
from airlock_dev.config import load_stack_config
from airlock_dev.factory import tinymodel, upstream
from airlock_dev.stack import cli
from airlock_dev.stack.airflow_client import AirflowClient
from airlock_dev.stack.services import LocalStack

DEMO_REPO = "airlock-demo/tiny-good"
DEMO_MODEL = "airlock-demo"


def say(msg: str) -> None:
    print(msg, flush=True)


def main() -> int:
    cfg = load_config()
    stack = LocalStack(cfg, load_stack_config())
    say("== 1/3 stack")
    if cli.up(stack) != 0:
        return 1
    say("== 2/3 upstream: the factory's 'good' model on the hub mirror")
    t0 = time.monotonic()
    variant = tinymodel.build_variant("good", stack.paths.state / "factory")
    sha = upstream.publish_git(variant, stack.paths.state / "hub" / "mirrors", DEMO_REPO)
    say(f"  {DEMO_REPO}@main = {sha[:12]} ({time.monotonic() - t0:.0f}s)")

    say("== 3/3 lifecycle through Airflow")
    af = AirflowClient(stack.airflow_url, "admin", cli.airflow_password(stack) or "")
    for dag_id in ("model_intake", "model_evaluate", "model_promote"):
        af.wait_dag(dag_id, timeout=180)
    known_eval = af.run_ids("model_evaluate")
    known_promote = af.run_ids("model_promote")
    intake = run_dag(
        af, "model_intake", {"model_name": DEMO_MODEL, "source_kind": "hub", "location": DEMO_REPO, "revision": "main"}
    )
    if intake is None:
        return 1
    rec = af.xcom("model_intake", intake, "record") or {}
    say(f"  intake: {DEMO_MODEL} digest {str(rec.get('digest'))[:12]} -> {rec.get('manifest_uri')}")
    # candidate_dispatch turns the airlock_candidate event into this version's one model_evaluate run
    eval_run = dispatched(af, "model_evaluate", candidate_run_id(DEMO_MODEL, rec["digest"]), known_eval)
    if run_dag(af, "model_evaluate", None, run_id=eval_run) is None:
        return 1
    verdict = af.xcom("model_evaluate", eval_run, "sign") or af.xcom("model_evaluate", eval_run, "decide") or {}
    promoted = None
    if verdict.get("passed") and cfg.promotion.auto_promote:
        # verdict_dispatch turns the airlock_verdict event into its one model_promote run
        promote_run = dispatched(af, "model_promote", verdict_run_id(DEMO_MODEL, verdict["digest"]), known_promote)
        say("  (a rolling restart behind HAProxy)")
        promoted = run_dag(af, "model_promote", None, run_id=promote_run, timeout=1200)
    say("")
    say(
        f"verdict:     {str(verdict.get('verdict', '?')).upper()} for {DEMO_MODEL} version "
        f"{verdict.get('model_version')} (digest {str(verdict.get('digest'))[:12]})"
    )
    for r in verdict.get("reasons", []):
        say(f"             - {r}")
    say(f"report:      {verdict.get('report')}")
    if verdict.get("signed_pass"):
        say(f"signed pass: {verdict['signed_pass']} (model-signing bundle; {signer(cfg)})")
    say(f"MLflow run:  {verdict.get('mlflow_run_url')}")
    say(f"             (sign in as {users.REVIEWER} to read; its password is in {stack.paths.secrets})")
    say(f"Airflow:     {af.run_url('model_intake', intake)}")
    say(f"             {af.run_url('model_evaluate', eval_run)}")
    if promoted:
        say(f"             {af.run_url('model_promote', promoted)}")
    say(f"manifest:    {rec.get('manifest_uri')}")
    say(f"registry:    {registry_lock(cfg)}")
    if promoted:
        versions = {n.name: (n.current_version() or "-")[:12] for n in stack.nodes()}
        say(f"fleet:       {versions} (champion = version {verdict.get('model_version')})")
        for line in node_checks(cfg, stack):
            say(f"             {line}")
        say(f"through the load balancer: {fleet_completion(cfg)}")
    say(f"metrics:     {pushed_metrics(cfg, stack)}")
    say("stop it all: make down")
    return 0


def dispatched(af: AirflowClient, dag_id: str, run_id: str, known: set[str]) -> str:
    """The run a dispatcher triggers for this version (one per version: a second demo follows the first's)."""
    if run_id in known:
        say(f"  {dag_id} ran for this version before ({run_id}): following that run")
        say(f"  (one run per version; trigger {dag_id} by hand to run it again)")
        return run_id
    af.wait_run_exists(dag_id, run_id, timeout=300)
    say(f"  {dag_id} was triggered by its dispatcher for the asset event: run {run_id}")
    return run_id


def registry_lock(cfg) -> str:
    """The registry bucket's object lock, as the store reports it."""
    from airlock.registry import Registry

    rule = Registry.from_config(cfg).lock().get("Rule", {}).get("DefaultRetention")
    if not rule:
        return f"s3://{cfg.registry.bucket} has NO object lock"
    return f"every version in s3://{cfg.registry.bucket} is locked ({rule['Mode']}, {rule['Days']} days)"


def signer(cfg) -> str:
    """Which key signs passes, by the fingerprint model-signing records in each bundle."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    pub = serialization.load_pem_public_key(cfg.trusted_keys()[0])
    der = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"signed by the pipeline key {hashlib.sha256(der).hexdigest()[:16]}, verified by every node"


def node_checks(cfg, stack: LocalStack) -> list[str]:
    """What each node verified before it loaded the weights it serves (re-checked here, as on restart)."""
    from airlock.materialize import check_cached

    out = []
    for n in stack.nodes():
        digest = n.current_version()
        if digest:
            m = check_cached(n.version_dir(digest), cfg.trusted_keys())
            files = len(m.files)
            out.append(
                f"{n.name}: pass of {m.name}@{digest[:12]} verified; its {files} files sha256-checked on arrival"
            )
    return out


def pushed_metrics(cfg, stack: LocalStack) -> str:
    """What the pipeline's tasks pushed for the demo model, read back from the gateway."""
    from airlock import metrics

    try:
        pushed = metrics.current(stack.pushgateway_url, cfg.metrics.job, DEMO_MODEL)
    except OSError as exc:
        return f"pushgateway unreachable ({type(exc).__name__})"
    parts = [
        f"{name.removeprefix('airlock_')}{dict(labels) or ''}={value:g}"
        for (name, labels), value in sorted(pushed.items())
    ]
    return f"{', '.join(parts) or 'none pushed'} ({stack.pushgateway_url}/metrics)"


def fleet_completion(cfg) -> str:
    """One completion through HAProxy, shown to the user (the demo's own prompt)."""
    import json
    import urllib.request

    prompt = "Question: What is 38 plus 17?\nAnswer:"
    req = urllib.request.Request(
        f"http://127.0.0.1:{cfg.balancer.frontend_port}/v1/completions",
        data=json.dumps(
            {"model": cfg.serving.served_model_name, "prompt": prompt, "max_tokens": 4, "temperature": 0}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - local URL
        text = json.loads(r.read())["choices"][0]["text"]
    return f"{prompt!r} -> {text.strip().splitlines()[0] if text.strip() else text!r}"


def run_dag(
    af: AirflowClient, dag_id: str, conf: dict | None, run_id: str | None = None, timeout: float = 900
) -> str | None:
    """Trigger (or follow) a run, wait, print its tasks; None if it failed."""
    if run_id is None:
        run_id = af.trigger(dag_id, conf)
    say(f"  {dag_id}: {af.run_url(dag_id, run_id)}")
    state = af.wait_run(dag_id, run_id, timeout=timeout)
    for ti in sorted(af.task_instances(dag_id, run_id), key=lambda t: t.get("start_date") or "~"):
        say(f"    {ti['task_id']:<14} {ti['state']}")
    if state != "success":
        say(f"FAILED: {dag_id} ended {state}; task logs: {af.run_url(dag_id, run_id)}")
        return None
    return run_id


if __name__ == "__main__":
    sys.exit(main())
