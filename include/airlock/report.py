"""The reviewer's one-page report: why the candidate passed or failed.

Self-contained HTML (the plots are embedded), logged to the evaluation run as
``report/report.html`` next to ``report/sweep.png``, so a reviewer who only
opens MLflow sees the verdict, its reasons, every metric with its delta and
interval, the sweep and each performance ratio's interval against the
baseline, goodput, and links to the Airflow run and the manifest.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from airlock.payloads import PerformanceResult


def sweep_plot(perf: PerformanceResult) -> bytes:
    """PNG: output throughput and median TTFT against concurrency (candidate and baseline medians),
    and each figure's ratio to the baseline with its interval against the allowed change."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.6), dpi=100)
    for label, pts, style in (("candidate", perf.points, "o-"), (perf.baseline, perf.baseline_points, "s--")):
        if not pts:
            continue
        xs = [p.concurrency for p in pts]
        ax1.plot(xs, [p.output_throughput for p in pts], style, label=label)
        ax2.plot(xs, [p.ttft_p50_ms for p in pts], style, label=label)
    for ax, title, unit in ((ax1, "Output throughput", "tokens/s"), (ax2, "Median TTFT", "ms")):
        ax.set_title(title)
        ax.set_xlabel("concurrency")
        ax.set_ylabel(unit)
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
        ax.legend()
    rows = [(f"c{c.concurrency} {f.figure.removesuffix('_ms')}", f) for c in perf.comparisons for f in c.figures]
    for y, (_, f) in enumerate(rows):
        colour = {"pass": "#1b7f3b", "regression": "#b00020"}.get(f.outcome, "#777")
        ax3.errorbar(f.ratio, y, xerr=[[f.ratio - f.low], [f.high - f.ratio]], fmt="o", color=colour, capsize=3)
        bound = 1 - f.allowed if f.higher_is_better else 1 + f.allowed
        ax3.plot([bound, bound], [y - 0.4, y + 0.4], color="#b00020", lw=1)
    ax3.axvline(1.0, color="#444", lw=0.8, ls=":")
    ax3.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax3.invert_yaxis()
    ax3.set_title(f"Candidate / {perf.baseline}, 90% CI")
    ax3.set_xlabel("ratio (red: the allowed limit)")
    ax3.grid(alpha=0.3, axis="x")
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
    perf: PerformanceResult,
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
        f"<tr class={'ok' if c['passed'] else 'bad'}><td>{_fmt(c['name'])}</td><td>{_fmt(c['candidate'], 2)}</td>"
        f"<td>[{_fmt(c['ci_low'], 2)}, {_fmt(c['ci_high'], 2)}]</td><td>{html.escape(c['detail'])}</td>"
        f"<td>{'✔' if c['passed'] else '✘'}</td></tr>"
        for c in verdict["checks"]
        if c["name"].startswith("perf/")
    )
    base = {p.concurrency: p for p in perf.baseline_points}
    rounds = {c.concurrency: c.rounds for c in perf.comparisons}
    sweep_rows = "".join(
        f"<tr><td>{p.concurrency}</td><td>{rounds.get(p.concurrency, '–')}</td><td>{_fmt(p.request_throughput, 2)}</td>"
        f"<td>{_fmt(p.output_throughput, 0)}</td>"
        f"<td>{_fmt(b.output_throughput if b else None, 0)}</td>"
        f"<td>{_fmt(p.ttft_p50_ms, 1)}</td><td>{_fmt(p.ttft_p99_ms, 1)}</td>"
        f"<td>{_fmt(b.ttft_p99_ms if b else None, 1)}</td>"
        f"<td>{_fmt(p.tpot_p99_ms, 2)}</td><td>{_fmt(p.itl_p99_ms, 2)}</td><td>{_fmt(p.e2el_p99_ms, 1)}</td>"
        f"<td>{_fmt(p.request_goodput, 2)}</td><td>{_fmt(b.request_goodput if b else None, 2)}</td>"
        f"<td>{p.failed}</td></tr>"
        for p in perf.points
        for b in [base.get(p.concurrency)]
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
<p>Against <b>{html.escape(perf.baseline)}</b>: vLLM's serve benchmark in rounds of one run per side, order
alternating, until each ratio's interval is decided; medians over the rounds below.</p>
<img alt="sweep and ratio intervals" src="data:image/png;base64,{img}" width="1000">
<table><tr><th>check</th><th>candidate</th><th>90% CI</th><th>detail</th><th></th></tr>{perf_rows}</table>
<table><tr><th>concurrency</th><th>rounds</th><th>req/s</th><th>out tok/s</th><th>baseline out tok/s</th>
<th>TTFT p50 ms</th><th>TTFT p99 ms</th><th>baseline TTFT p99</th><th>TPOT p99 ms</th><th>ITL p99 ms</th>
<th>E2E p99 ms</th><th>goodput req/s</th><th>baseline goodput</th><th>failed</th></tr>{sweep_rows}</table>
{how}
<h2>Links</h2><ul>{link_items}</ul>
<p><small>Generated by Airlock. Metrics: lm-eval per task; intervals of the drop from the sequential paired
test on per-document scores (repeated-confidence, valid across looks) or, against floors, of the score;
vLLM's serve benchmark per concurrency, interleaved with the baseline; ratio intervals are Student-t on
log ratios per round; goodput under the model's SLOs.</small></p>
</body></html>"""


def write(out_dir: Path, **kw: Any) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    png = sweep_plot(kw["perf"])
    (out_dir / "sweep.png").write_bytes(png)
    (out_dir / "report.html").write_text(render(png=png, **kw))
    return out_dir / "report.html", out_dir / "sweep.png"
