"""The reviewer's one-page report: why the candidate passed or failed.

Self-contained HTML (the sweep plot is embedded), logged to the evaluation
run as ``report/report.html`` next to ``report/sweep.png``, so a reviewer who
only opens MLflow sees the verdict, its reasons, every metric with its delta
and interval, the sweep against the champion, and links to the Airflow run and
the manifest.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any


def sweep_plot(candidate: list[dict[str, Any]], champion: list[dict[str, Any]] | None) -> bytes:
    """PNG: output throughput and TTFT p99 against concurrency, both versions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    for label, pts, style in (("candidate", candidate, "o-"), ("champion", champion or [], "s--")):
        if not pts:
            continue
        xs = [p["concurrency"] for p in pts]
        ax1.plot(xs, [p["output_throughput"] for p in pts], style, label=label)
        ax2.plot(xs, [p["ttft_p99_ms"] for p in pts], style, label=label)
    for ax, title, unit in ((ax1, "Output throughput", "tokens/s"), (ax2, "TTFT p99", "ms")):
        ax.set_title(title)
        ax.set_xlabel("concurrency")
        ax.set_ylabel(unit)
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return html.escape(str(v))


def render(
    model: str,
    digest: str,
    version: str | None,
    verdict: dict[str, Any],
    candidate_sweep: list[dict[str, Any]],
    champion_sweep: list[dict[str, Any]] | None,
    links: dict[str, str],
    png: bytes,
    measured: dict[str, Any] | None = None,
) -> str:
    ok = verdict["passed"]
    m = measured or {}
    how_rows = "".join(
        f"<tr><td>{_fmt(t['task'])}</td><td>{_fmt(t['metric'])}</td><td>{_fmt(t['n'])}</td>"
        f"<td>{'chat (template applied by the server)' if t.get('chat') else 'completions'}</td>"
        f"<td>{_fmt(', '.join(f'{k}={v}' for k, v in sorted((t.get('generation') or {}).items())) or None)}</td></tr>"
        for t in m.get("tasks", [])
    )
    how = (
        f"<h2>How it was measured</h2><p>suite <b>{_fmt(m.get('suite'))}</b> · chat template sha256 "
        f"<code>{_fmt(m.get('chat_template_sha256'))}</code> · policy <code>{_fmt(m.get('policy'))}</code></p>"
        "<table><tr><th>task</th><th>metric</th><th>documents</th><th>endpoint</th><th>generation settings</th></tr>"
        f"{how_rows}</table>"
        if m
        else ""
    )
    colour = "#1b7f3b" if ok else "#b00020"
    acc_rows = "".join(
        f"<tr class={'ok' if c['passed'] else 'bad'}><td>{_fmt(c['name'])}</td><td>{_fmt(c['baseline'])}</td>"
        f"<td>{_fmt(c['candidate'])}</td><td>{_fmt(c['delta'])}</td>"
        f"<td>[{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}]</td><td>{_fmt(c['p_value'])}</td>"
        f"<td>{'✔' if c['passed'] else '✘'}</td></tr>"
        for c in verdict["checks"]
        if c["name"].startswith("accuracy/")
    )
    perf_rows = "".join(
        f"<tr class={'ok' if c['passed'] else 'bad'}><td>{_fmt(c['name'])}</td><td>{_fmt(c['baseline'], 1)}</td>"
        f"<td>{_fmt(c['candidate'], 1)}</td><td>{_fmt(c['delta'], 1)}</td><td>{'✔' if c['passed'] else '✘'}</td></tr>"
        for c in verdict["checks"]
        if c["name"].startswith("perf/")
    )
    champ = {p["concurrency"]: p for p in champion_sweep or []}
    sweep_rows = "".join(
        f"<tr><td>{p['concurrency']}</td><td>{_fmt(p['request_throughput'], 1)}</td>"
        f"<td>{_fmt(p['output_throughput'], 0)}</td>"
        f"<td>{_fmt(champ.get(p['concurrency'], {}).get('output_throughput'), 0)}</td>"
        f"<td>{_fmt(p['ttft_p50_ms'], 1)}</td><td>{_fmt(p['ttft_p99_ms'], 1)}</td>"
        f"<td>{_fmt(champ.get(p['concurrency'], {}).get('ttft_p99_ms'), 1)}</td>"
        f"<td>{_fmt(p['tpot_p99_ms'], 2)}</td><td>{_fmt(p['itl_p99_ms'], 2)}</td><td>{_fmt(p['e2el_p99_ms'], 1)}</td>"
        f"<td>{_fmt(p.get('request_goodput'), 1)}</td><td>{p['failed']}</td></tr>"
        for p in candidate_sweep
    )
    link_items = "".join(
        f"<li>{html.escape(k)}: <a href='{html.escape(v)}'>{html.escape(v)}</a></li>" for k, v in links.items() if v
    )
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in verdict["reasons"])
    img = base64.b64encode(png).decode()
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Airlock report {html.escape(model)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:1em auto;color:#222}}
table{{border-collapse:collapse;margin:.5em 0 1.2em}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}
th{{background:#f3f3f3}}tr.bad td{{background:#fde8ea}}
.verdict{{color:#fff;background:{colour};padding:.4em .8em;display:inline-block;border-radius:4px}}</style>
</head><body>
<h1>{html.escape(model)} <small>version {html.escape(version or "?")} · digest {html.escape(digest[:16])}…</small></h1>
<p class="verdict"><b>{"PASS" if ok else "FAIL"}</b> against {html.escape(verdict["against"])}</p>
<h2>Why</h2><ul>{reasons}</ul>
<h2>Accuracy</h2>
<table><tr><th>check</th><th>{"champion" if verdict["against"] != "floors" else "floor"}</th><th>candidate</th>
<th>delta</th><th>95% CI of delta</th><th>p (drop)</th><th></th></tr>{acc_rows}</table>
<h2>Serving performance</h2>
<img alt="sweep" src="data:image/png;base64,{img}" width="900">
<table><tr><th>check</th><th>champion</th><th>candidate</th><th>delta</th><th></th></tr>{perf_rows}</table>
<table><tr><th>concurrency</th><th>req/s</th><th>out tok/s</th><th>champion out tok/s</th><th>TTFT p50 ms</th>
<th>TTFT p99 ms</th><th>champion TTFT p99</th><th>TPOT p99 ms</th><th>ITL p99 ms</th><th>E2E p99 ms</th>
<th>goodput req/s</th><th>failed</th></tr>{sweep_rows}</table>
{how}
<h2>Links</h2><ul>{link_items}</ul>
<p><small>Generated by Airlock. Metrics: lm-eval per task; intervals of the drop from the sequential paired
test on per-document scores (repeated-confidence, valid across looks) or, against floors, of the score;
vLLM's serve benchmark per concurrency, goodput under the model's SLOs.</small></p>
</body></html>"""


def write(out_dir: Path, **kw: Any) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    png = sweep_plot(kw["candidate_sweep"], kw["champion_sweep"])
    (out_dir / "sweep.png").write_bytes(png)
    (out_dir / "report.html").write_text(render(png=png, **kw))
    return out_dir / "report.html", out_dir / "sweep.png"
