#!/usr/bin/env bash
# Installs the system packages the test suites and benchmarks use, when they are missing.
# Usage: scripts/ensure-system-deps.sh [test|e2e|bench]...   (default: test)
# Debian packages: redis-server (integration tests), prometheus (promtool and a real Prometheus for the
# monitoring tests), python3-venv (grpcio, the second gRPC client of the http2 transport conformance test),
# nginx + chromium (end-to-end), nghttp2-client (h2load).
set -euo pipefail

want=()
for group in "${@:-test}"; do
  case "$group" in
    test) want+=("redis-server:redis-server" "promtool:prometheus" "python3:python3-venv") ;;
    e2e) want+=("nginx:nginx" "chromium:chromium") ;;
    bench) want+=("h2load:nghttp2-client" "redis-server:redis-server") ;;
    *) echo "ensure-system-deps: unknown group '$group' (test, e2e, bench)" >&2; exit 2 ;;
  esac
done

missing=()
for pair in "${want[@]}"; do
  bin=${pair%%:*}; pkg=${pair#*:}
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ] && [ ! -x "/usr/bin/$bin" ]; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing system packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "error: ${missing[*]} missing and not running as root; install them with apt-get." >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start their services on install where systemd exists; the tests start their own.
for svc in redis-server nginx prometheus; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
