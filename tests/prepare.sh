#!/usr/bin/env bash
# Make the machine ready for the test suite: a Redis server on 127.0.0.1:6379,
# Debian's Chromium for the dashboard test and nginx for the deploy config test.
# Idempotent and quick when all is there.
set -euo pipefail
apt_updated=0
need() {  # need <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then echo "prepare: $1 missing and not root; install $2" >&2; return 1; fi
  if [ $apt_updated = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need redis-server redis-server
need chromium chromium
need nginx nginx   # the deploy/nginx.conf test runs the real thing
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  mkdir -p /tmp/pool-proxy-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/pool-proxy-redis --logfile /tmp/pool-proxy-redis/redis.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
