#!/usr/bin/env bash
# Static checks of the deploy files that need no Docker engine:
# the compose file resolves, the example config loads, and nginx accepts nginx.conf (replica names
# swapped for 127.0.0.1, since they only resolve inside the compose network).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
else
    echo "deploy: no docker compose (plugin or docker-compose) found" >&2
    exit 2
fi
# env_file must exist for `config`; use the example when no real .env is there.
created_env=0
if [[ ! -f "$HERE/.env" ]]; then
    cp "$HERE/.env.example" "$HERE/.env"
    created_env=1
fi
status=0
"${COMPOSE[@]}" -f "$HERE/docker-compose.yml" config -q || status=1
((created_env)) && rm -f "$HERE/.env"
[[ $status -eq 0 ]] && echo "deploy: docker-compose.yml is valid (${COMPOSE[*]})"

# The example gateway config must load, with the example secrets.
POOL_PROXY="$HERE/../.venv/bin/pool-proxy"
if [[ -x "$POOL_PROXY" ]]; then
    (set -a && . "$HERE/.env.example" && set +a && "$POOL_PROXY" check --config "$HERE/accounts.compose.yaml") \
        >/dev/null && echo "deploy: accounts.compose.yaml is valid" || status=1
fi

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
sed 's/gateway-[0-9]*:8080/127.0.0.1:8080/' "$HERE/nginx.conf" >"$TMP/nginx.conf"
"$NGINX" -t -q -p "$TMP/" -c "$TMP/nginx.conf" -e "$TMP/error.log" && echo "deploy: nginx.conf is valid" || status=1
exit $status
