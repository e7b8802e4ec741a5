"""Logging hygiene, after the whole e2e lifecycle has run (this file sorts
last): intake from the hub with a token, evaluations with lm-eval on staging
nodes, promotions and a rollback through HAProxy under load.

Every log of that session is read: Airflow's task and component logs, the
MLflow server's, every vLLM node's (fleet and staging), HAProxy's, and the
hub's, SeaweedFS's and the Pushgateway's. None may hold an eval prompt, a
model output, the HF token, an S3 secret or an MLflow password.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airlock_dev.factory import tasks

pytestmark = pytest.mark.e2e

# What vLLM writes when request logging is on (prompts and outputs), and the
# shape of a completion body: none of these may appear in any log.
OUTPUT_MARKERS = ["Received request", "Generated response", "prompt_token_ids", '"text":', "'text':"]


def _logs(workdir: Path) -> list[Path]:
    """Every process and task log; not the stores' own data (SeaweedFS's
    LevelDB journals under ``data/`` are named ``*.log`` too)."""
    return sorted(p for p in workdir.rglob("*.log") if p.is_file() and "data" not in p.relative_to(workdir).parts)


def _find(needles: list[str], files: list[Path]) -> list[str]:
    hits = []
    for f in files:
        text = f.read_text(errors="replace")
        hits += [f"{f}: {n!r}" for n in needles if n in text]
    return hits


def test_no_prompt_output_or_secret_in_any_log(airflow, workdir, config, s3_env, hf_token, pushgateway):
    from airlock import metrics

    files = _logs(workdir)
    by_kind = {
        "airflow task": [f for f in files if "dag_id=" in str(f)],
        "airflow component": [f for f in files if f.name.startswith("airflow-")],
        "mlflow": [f for f in files if f.name == "mlflow.log"],
        "vllm node": [f for f in files if f.name == "node.log"],
        "haproxy": [f for f in files if f.name == "haproxy.log"],
    }
    for kind, fs in by_kind.items():  # the lifecycle ran: each kind of log exists and is not empty
        assert fs and any(f.stat().st_size for f in fs), f"no {kind} log under {workdir}"
    assert {d for f in by_kind["airflow task"] for d in f.parts if d.startswith("dag_id=")} >= {
        "dag_id=model_intake",
        "dag_id=model_evaluate",
        "dag_id=model_promote",
        "dag_id=model_rollback",
        "dag_id=model_watch",
    }

    prompts = [it.question.split("\n")[0].removeprefix("Question: ") for it in tasks.items()]
    prompts.append(config.promotion.smoke_prompt.split("\n")[0].removeprefix("Question: "))
    secrets = [hf_token, *(v for k, v in s3_env.creds.items() if "SECRET" in k or "PASSWORD" in k)]

    # positive control: the same search finds them where they are meant to be
    data = workdir / "hygiene-control.log"
    data.write_text("\n".join(prompts + secrets + OUTPUT_MARKERS))
    assert len(_find(prompts + secrets + OUTPUT_MARKERS, [data])) == len(prompts + secrets + OUTPUT_MARKERS)
    data.unlink()

    assert _find(secrets, files) == [], "a secret reached a log"
    assert _find(prompts, files) == [], "an eval or smoke prompt reached a log"
    assert _find(OUTPUT_MARKERS, files) == [], "a request or model output reached a log"

    # and the pipeline's tasks pushed their metrics while they ran
    pushed = metrics.current(pushgateway, config.metrics.job, "fleet")
    assert any(name == "airlock_rollouts_total" for name, _ in pushed), pushed
    assert any(
        name == "airlock_verdicts_total" for name, _ in metrics.current(pushgateway, config.metrics.job, "e2e-eval")
    )


def test_databases_secrets_state_and_logs_are_private(airflow, workdir):
    """After the whole lifecycle, nothing the services and tasks wrote (logs, databases, pid files,
    secrets, journals, node caches) is reachable by another user: every folder on the way is 0700.

    Walks as another user would: a folder open to others is a finding and is entered; a closed
    one hides everything below it (materialised weights are 0444, inside 0700 folders). Airflow
    chmods task logs 0664/0775 unless told otherwise, so this fails without that setting.
    """
    test_data = {"variants", "mirrors"}  # the tests' own model copies and the hub stand-in's repos
    reachable: list[str] = []

    def walk(folder: Path) -> None:
        for p in folder.iterdir():
            rel = p.relative_to(workdir)
            if p.is_symlink() or test_data & set(rel.parts) or not p.stat().st_mode & 0o077:
                continue
            reachable.append(f"{rel}{'/' if p.is_dir() else ''} {oct(p.stat().st_mode & 0o777)}")
            if p.is_dir():
                walk(p)

    walk(workdir)
    kinds = [p for p in workdir.rglob("*") if p.is_file() and p.suffix in (".db", ".log", ".pid", ".env", ".pem")]
    assert len(kinds) > 10, "the lifecycle left no databases or logs to check"
    assert reachable == [], "open to other users:\n" + "\n".join(sorted(reachable)[:40])
