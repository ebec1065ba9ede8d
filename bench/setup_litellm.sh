#!/usr/bin/env bash
# Create bench/.litellm-venv with LiteLLM proxy, the benchmark peer.
# Recipe from shared lessons §4: two pins of litellm 1.109.1 do not resolve on
# the package mirror, so they are relaxed with an override; opentelemetry is
# installed beside it as in LiteLLM's own image (without it every request
# retries a failing import, which would flatter us); the venv is byte-compiled
# once because this machine sets PYTHONDONTWRITEBYTECODE.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
VENV="$HERE/.litellm-venv"
LITELLM_VERSION=${LITELLM_VERSION:-1.109.1}

if [[ -x "$VENV/bin/litellm" && -f "$VENV/.complete" ]]; then
    exit 0
fi
rm -rf "$VENV"
BASE_PY="$ROOT/.venv/bin/python"
[[ -x "$BASE_PY" ]] || BASE_PY=python3
"$BASE_PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q uv
OVERRIDES=$(mktemp)
trap 'rm -f "$OVERRIDES"' EXIT
cat >"$OVERRIDES" <<'PINS'
certifi>=2026.10.18
litellm-proxy-extras==0.4.110
PINS
# uv does not read pip.conf; point it at the same CA bundle pip uses.
export SSL_CERT_FILE=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
"$VENV/bin/python" -m uv pip install --python "$VENV/bin/python" --override "$OVERRIDES" \
    "litellm[proxy]==$LITELLM_VERSION" \
    "opentelemetry-api==1.45.1" "opentelemetry-sdk==1.45.1"
"$VENV/bin/python" -m compileall -q -j 0 "$VENV/lib" >/dev/null || true
touch "$VENV/.complete"
