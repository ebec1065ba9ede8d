#!/usr/bin/env bash
# pool-proxy benchmark entry point (`make bench`). Usage: bash bench/run.sh [--smoke]
# Installs what the bench needs when missing (nginx, wrk, redis-server from
# Debian; LiteLLM in bench/.litellm-venv), raises the open-files limit, then
# hands over to run.py with the repo's .venv python. Settings: see README.md.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY="$ROOT/.venv/bin/python"
SMOKE=0
for arg in "$@"; do
    case "$arg" in
        --smoke) SMOKE=1 ;;
        *) echo "usage: bash bench/run.sh [--smoke]" >&2; exit 2 ;;
    esac
done

if [[ ! -x "$PY" ]]; then
    echo "bench: $PY missing; run 'make' (or make test) first to create .venv" >&2
    exit 2
fi

missing=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
    echo "bench: installing ${missing[*]}"
    if [[ $(id -u) -ne 0 ]]; then
        echo "bench: need root to apt-get install ${missing[*]}" >&2
        exit 2
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"

if [[ $SMOKE -eq 0 && ${BENCH_LITELLM:-1} == 1 ]]; then
    echo "bench: preparing LiteLLM in bench/.litellm-venv (first run takes a few minutes)"
    bash "$HERE/setup_litellm.sh"
fi

# Two runs at once would share the cores and the ports: wait for the other one.
exec 9>"${TMPDIR:-/tmp}/pool-proxy-bench.lock"
if ! flock -n 9; then
    echo "bench: another bench run is going on; waiting for it (at most 20 min)"
    flock -w 1200 9 || { echo "bench: gave up waiting for the other run" >&2; exit 2; }
fi

# Each open stream costs a gateway two sockets: take all the hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cd "$ROOT"
if [[ $SMOKE -eq 1 ]]; then
    exec "$PY" "$HERE/run.py" --smoke
fi
exec "$PY" "$HERE/run.py"
