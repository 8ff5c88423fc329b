#!/usr/bin/env bash
# grpcio (gRPC's C-core, Python binding) in a project-local venv under .runtime/, for the node:http2
# transport's conformance test (test/extauthz-h2-conformance.test.ts): a second gRPC client written
# independently of grpc-js. Installed once per version and reused; prints the venv's python on stdout.
# Fails loudly (exit 1 with pip's message) when python3 or the install fails: the test then fails, it is
# never skipped.
set -euo pipefail
GRPCIO_VERSION=1.84.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.runtime/grpcio-$GRPCIO_VERSION"
ready() { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import grpc' >/dev/null 2>&1; }
if ready; then echo "$venv/bin/python"; exit 0; fi
command -v python3 >/dev/null || { echo "ensure-grpcio: python3 is required (apt-get install python3 python3-venv)" >&2; exit 1; }
mkdir -p "$root/.runtime"
# One installer at a time (test workers may start together); the others wait and reuse its venv.
exec 9>"$root/.runtime/grpcio.lock"
flock 9
if ! ready; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "grpcio==$GRPCIO_VERSION" >&2 || { rm -rf "$venv"; exit 1; }
  ready || { echo "ensure-grpcio: grpcio $GRPCIO_VERSION installed but does not import" >&2; rm -rf "$venv"; exit 1; }
fi
echo "$venv/bin/python"
