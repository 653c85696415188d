#!/usr/bin/env bash
# Installs the system packages Conveyor's tests use beyond npm (Redis for the shared cache store,
# PostgreSQL 15 for the shared stores and the cluster, Chromium for browser tests, Prometheus and
# promtool for the metrics tests), idempotently. Called by `npm test`; safe to run by hand.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
{ [ -x /usr/lib/postgresql/15/bin/postgres ] && [ -x /usr/lib/postgresql/15/bin/initdb ]; } || need+=(postgresql-15)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || need+=(prometheus)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "conveyor: please install these Debian packages: ${need[*]}" >&2
  exit 1
fi
sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
echo "conveyor: installing system packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -qq >&2
$sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
# The packaged redis-server service is not what tests use: they start their own on a free port.
# Nor the packaged postgresql service: tests and the cluster script start their own data directories.
# Nor the packaged prometheus service: the metrics tests start their own, on a free loopback port.
if command -v systemctl >/dev/null 2>&1; then $sudo_cmd systemctl disable --now redis-server postgresql prometheus prometheus-node-exporter >/dev/null 2>&1 || true; fi
